// simdex report: draws the lists (clusters, related pairs, rejected records) lazily from the
// embedded JSON, only the rows in view, and the side-by-side view of a pair on demand. Texts
// are inserted as text nodes only, never as HTML.
(() => {
  'use strict';
  const D = JSON.parse(document.getElementById('report-data').textContent);
  const T = D.thresholds;
  const ROW = 34; // px per list row
  const OVERSCAN = 12; // rows drawn above and below the visible ones
  const LIST_SHARE = 0.38; // most of the window height a list takes
  const MEMBERS_AT_ONCE = 20; // removed members of a cluster drawn per click

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const k of kids) if (k != null) e.append(k);
    return e;
  }
  const id = (n) => D.ids[n];
  const fmt = (x, d) => (x == null ? '–' : Number(x).toFixed(d));
  const STAGE = { exact: 'exact', near_exact: 'near-exact', semantic: 'semantic', semantic_redundancy: 'semantic redundancy' };
  const stageBadge = (s) => el('span', { class: 'stage ' + s, text: STAGE[s] || s });
  const lower = (s) => s.toLowerCase();

  // A list that keeps only the rows in view (plus a margin) in the document.
  class VList {
    constructor(box, render, onOpen) {
      this.box = box; this.render = render; this.onOpen = onOpen; this.items = []; this.sel = null;
      this.spacer = el('div', { class: 'vspacer' });
      this.rows = el('div', { class: 'vrows' });
      this.spacer.append(this.rows);
      box.append(this.spacer);
      box.addEventListener('scroll', () => this.draw(), { passive: true });
      box.addEventListener('click', (ev) => {
        const r = ev.target.closest('.vrow');
        if (r) this.open(Number(r.dataset.i));
      });
      box.addEventListener('keydown', (ev) => {
        if (!this.items.length) return;
        const at = this.sel == null ? -1 : this.items.indexOf(this.sel);
        if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
          ev.preventDefault();
          const i = Math.max(0, Math.min(this.items.length - 1, at + (ev.key === 'ArrowDown' ? 1 : -1)));
          this.open(i);
          const top = i * ROW;
          if (top < box.scrollTop || top + ROW > box.scrollTop + box.clientHeight) box.scrollTop = top - box.clientHeight / 2;
        }
      });
    }
    set(items) {
      this.items = items;
      this.spacer.style.height = items.length * ROW + 'px';
      // As tall as its rows, up to a share of the window: a short list leaves room for the pair.
      this.box.style.height = Math.max(2 * ROW, Math.min(items.length * ROW + 2, window.innerHeight * LIST_SHARE)) + 'px';
      this.box.scrollTop = 0;
      this.draw();
    }
    open(i) {
      this.sel = this.items[i];
      this.draw();
      this.onOpen(this.sel);
    }
    draw() {
      const h = this.box.clientHeight || 400;
      const first = Math.max(0, Math.floor(this.box.scrollTop / ROW) - OVERSCAN);
      const last = Math.min(this.items.length, Math.ceil((this.box.scrollTop + h) / ROW) + OVERSCAN);
      this.rows.style.transform = `translateY(${first * ROW}px)`;
      const out = [];
      for (let i = first; i < last; i++) {
        const r = this.render(this.items[i]);
        r.classList.add('vrow');
        if (this.items[i] === this.sel) r.classList.add('sel');
        r.dataset.i = i;
        r.style.height = ROW + 'px';
        out.push(r);
      }
      this.rows.replaceChildren(...out);
    }
  }

  // Text with its shared spans marked (spans: flat [start, end) pairs in UTF-16 units).
  function marked(text, spans) {
    const f = document.createDocumentFragment();
    let pos = 0;
    for (let i = 0; spans && i + 1 < spans.length; i += 2) {
      const s = Math.max(spans[i], pos), e = spans[i + 1];
      if (e <= s) continue;
      if (s > pos) f.append(text.slice(pos, s));
      f.append(el('mark', { text: text.slice(s, e) }));
      pos = e;
    }
    if (pos < text.length) f.append(text.slice(pos));
    return f;
  }
  function passage(texts, marks, n) {
    return el('p', { class: 'psg', dir: 'auto', 'data-p': n },
      el('span', { class: 'pno', text: '#' + n }), marked(texts[n] || '', marks && marks[n]));
  }

  function scoreRow(stage, what, value, digits, threshold, passes) {
    const v = value == null ? 'not computed' : fmt(value, digits);
    const t = threshold == null ? '' : ` (needs ≥ ${threshold})`;
    return el('tr', {}, el('th', { text: stage }), el('td', { text: what }),
      el('td', { class: value == null ? 'fail' : passes ? 'pass' : 'fail', text: v + t }));
  }

  // The side-by-side view of an explained pair: reason, scores, aligned passages, texts.
  function renderPair(e, labelA, labelB) {
    const box = el('div', { class: 'pair-body' });
    const cls = e.duplicate ? 'duplicate' : e.related ? 'related' : 'apart';
    box.append(el('div', { class: 'decision ' + cls, dir: 'auto' }, el('strong', { text: 'Reason: ' }), e.decision));
    const s = e.scores;
    const cos = s.cosine, j = s.jaccard, c = s.containment, tc = s.text_coverage;
    const table = el('table', { class: 'scores' },
      el('tr', {}, el('th', { text: 'exact' }), el('td', { text: 'identical compared text' }),
        el('td', { class: e.exact_match ? 'pass' : 'fail', text: e.exact_match ? 'yes' : 'no' })),
      scoreRow('near-exact', 'shingle Jaccard', j, 3, T.jaccard_threshold, j != null && j >= T.jaccard_threshold),
      scoreRow('near-exact', 'containment of the shorter record', c, 3, T.containment_threshold, c != null && c >= T.containment_threshold),
      scoreRow('semantic', 'article cosine', cos, 4, T.threshold, cos != null && cos >= T.threshold),
      scoreRow('semantic', 'text coverage (aligned passages sharing their wording)', tc, 2, T.min_coverage, tc != null && tc >= T.min_coverage),
      scoreRow('semantic', 'vector coverage (passage cosine ≥ ' + T.passage_threshold + ', reported only)', s.passage_coverage, 2, null, false),
      scoreRow('related', 'article cosine', cos, 4, T.related_threshold, cos != null && cos >= T.related_threshold));
    box.append(table);
    const ta = D.texts[e.a], tb = D.texts[e.b];
    if (!ta || !tb) {
      box.append(el('p', { class: 'note', text: D.explained
        ? 'The texts of this pair are not in the page (text budget reached): simdex explain shows them.'
        : 'This run wrote no passages: re-run simdex dedup to see the texts.' }));
      return box;
    }
    const [ma, mb] = e.marks || [null, null];
    box.append(el('h4', { text: `Aligned passages (${e.aligned.length}; each passage of the shorter record with its best match, shared text marked)` }));
    const head = el('div', { class: 'side-head' }, el('span', { dir: 'auto', text: labelA + ': ' + id(e.a) }), el('span'), el('span', { dir: 'auto', text: labelB + ': ' + id(e.b) }));
    box.append(head);
    const at = el('table', { class: 'aligned' });
    for (const [pa, pb, pc, ps] of e.aligned) {
      const reused = ps >= T.passage_shared;
      at.append(el('tr', { class: reused ? 'reused' : null },
        el('td', { class: 'side a' }, passage(ta, ma, pa)),
        el('td', { class: 'mid', text: `shared ${Math.round(100 * ps)}%\ncos ${fmt(pc, 3)}`, title: reused ? 'shares its wording' : 'does not share its wording' }),
        el('td', { class: 'side b' }, passage(tb, mb, pb))));
    }
    box.append(at);
    const det = el('details', { open: e.aligned.length === 0 },
      el('summary', { text: 'Both whole texts, shared text marked' }));
    const col = (label, n, texts, marks) => el('div', { class: 'col', dir: 'auto' },
      el('h4', { text: `${label}: ${id(n)} (${texts.length} passages)` }),
      ...texts.map((_, k) => passage(texts, marks, k)));
    det.append(el('div', { class: 'sbs' }, col(labelA, e.a, ta, ma), col(labelB, e.b, tb, mb)));
    box.append(det);
    return box;
  }

  // ---- clusters
  const clusterBox = document.getElementById('cluster-list');
  const clusterDetail = document.getElementById('cluster-detail');
  function clusterRow(ci) {
    const c = D.clusters[ci];
    const weakest = c.removed.reduce((w, r) => (w == null || r.margin < w.margin ? r : w), null);
    return el('div', { class: 'crow', 'data-cluster': c.name },
      el('span', { text: c.name }),
      el('span', { text: String(c.removed.length + (c.kept_in_index ? 0 : 1)) }),
      el('span', { dir: 'auto', text: id(c.kept) + (c.kept_in_index ? ' (indexed)' : '') }),
      el('span', {}, ...c.stages.map(stageBadge)),
      el('span', { dir: 'auto', text: weakest ? `${weakest.margin >= 0 ? '+' : ''}${fmt(weakest.margin, 3)} · ${weakest.margin_on}` : '' }));
  }
  function openCluster(ci) {
    const c = D.clusters[ci];
    const out = [el('h2', { dir: 'auto', text: `Cluster ${c.name}: kept ${id(c.kept)}${c.kept_in_index ? ' (in the index)' : ''}, ${c.removed.length} removed` })];
    clusterDetail.replaceChildren(...out);
    showMembers(c, 0);
  }
  // Removed members are drawn MEMBERS_AT_ONCE at a time: a cluster may have thousands.
  function showMembers(c, from) {
    const out = [];
    for (const r of c.removed.slice(from, from + MEMBERS_AT_ONCE)) {
      const sec = el('section', { class: 'pair', 'data-removed': id(r.rec) });
      const of = r.via != null ? `an exact copy of ${id(r.via)}, which duplicates the kept ${id(c.kept)}` : `a duplicate of the kept ${id(c.kept)}`;
      sec.append(el('h3', { dir: 'auto' }, 'removed ', el('code', { text: id(r.rec) }), ' ', stageBadge(r.stage), ` — ${of}`));
      sec.append(el('div', { class: 'muted', dir: 'auto', text: `source ${r.source}; deciding score ${fmt(r.score, 4)}, margin ${fmt(r.margin, 3)} on ${r.margin_on}` }));
      if (r.expl != null) sec.append(renderPair(D.explanations[r.expl], r.via != null ? 'copied member' : 'kept', 'removed'));
      else sec.append(el('p', { class: 'note', text: c.kept_in_index ? 'Removed against an indexed record: simdex explain --index shows the pair.' : 'No explanation in this folder (a run of an older version).' }));
      out.push(sec);
    }
    const rest = c.removed.length - from - MEMBERS_AT_ONCE;
    if (rest > 0) {
      const more = el('button', { class: 'more', text: `show ${Math.min(rest, MEMBERS_AT_ONCE)} more of ${rest} removed` });
      more.addEventListener('click', () => { more.remove(); showMembers(c, from + MEMBERS_AT_ONCE); });
      out.push(more);
    }
    clusterDetail.append(...out);
  }
  const clusters = new VList(clusterBox, clusterRow, openCluster);
  function filterClusters() {
    const q = lower(document.getElementById('cluster-filter').value.trim());
    const stage = document.getElementById('cluster-stage').value;
    const sort = document.getElementById('cluster-sort').value;
    const hasText = (n) => (D.texts[n] || []).some((p) => lower(p).includes(q));
    let items = [];
    for (let i = 0; i < D.clusters.length; i++) {
      const c = D.clusters[i];
      if (stage && !c.stages.includes(stage)) continue;
      if (q) {
        const members = [c.kept, ...c.removed.map((r) => r.rec)];
        const byId = lower(c.name) === q || members.some((n) => lower(id(n)).includes(q));
        if (!byId && (q.length < 2 || !members.some(hasText))) continue;
      }
      items.push(i);
    }
    if (sort === 'size') items.sort((x, y) => D.clusters[y].removed.length - D.clusters[x].removed.length || x - y);
    else if (sort === 'weakest') items.sort((x, y) => D.clusters[x].weakest - D.clusters[y].weakest || x - y);
    clusters.set(items);
    document.getElementById('cluster-count').textContent = `${items.length} of ${D.clusters.length} clusters`;
  }

  // ---- related pairs
  const relatedDetail = document.getElementById('related-detail');
  const related = new VList(document.getElementById('related-list'), (ri) => {
    const r = D.related[ri];
    return el('div', { class: 'rrow', 'data-a': id(r.a), 'data-b': id(r.b) },
      el('span', { text: fmt(r.cosine, 4) }), el('span', { dir: 'auto', text: id(r.a) }), el('span', { dir: 'auto', text: id(r.b) }));
  }, (ri) => {
    const r = D.related[ri];
    const sec = el('section', { class: 'pair' }, el('h3', { dir: 'auto', text: `Related: ${id(r.a)} ~ ${id(r.b)} (cosine ${fmt(r.cosine, 4)})` }));
    sec.append(r.expl != null ? renderPair(D.explanations[r.expl], 'A', 'B') : el('p', { class: 'note', text: 'No explanation in this folder.' }));
    relatedDetail.replaceChildren(sec);
  });
  function filterRelated() {
    const q = lower(document.getElementById('related-filter').value.trim());
    const items = [];
    for (let i = 0; i < D.related.length; i++) {
      const r = D.related[i];
      if (!q || lower(id(r.a)).includes(q) || lower(id(r.b)).includes(q)) items.push(i);
    }
    related.set(items);
    document.getElementById('related-count').textContent = `${items.length} of ${D.related.length} related pairs`;
  }

  // ---- rejected records
  const rejected = new VList(document.getElementById('rejected-list'), (ji) => {
    const r = D.rejected[ji];
    return el('div', { class: 'jrow', title: r.reason },
      el('span', { dir: 'auto', text: r.line ? `${r.file}:${r.line}` : r.file }),
      el('span', { dir: 'auto', text: r.id == null ? '–' : r.id }),
      el('span', { dir: 'auto', text: r.reason }));
  }, () => {});
  function filterRejected() {
    const q = lower(document.getElementById('rejected-filter').value.trim());
    const items = [];
    for (let i = 0; i < D.rejected.length; i++) {
      const r = D.rejected[i];
      if (!q || [r.file, r.id || '', r.reason].some((s) => lower(s).includes(q))) items.push(i);
    }
    rejected.set(items);
    document.getElementById('rejected-count').textContent = `${items.length} of ${D.rejected.length} rejected records`;
  }

  // ---- tabs, dialog, wiring
  const lists = { clusters, related, rejected };
  function showTab(name) {
    for (const b of document.querySelectorAll('nav button')) b.setAttribute('aria-selected', String(b.dataset.tab === name));
    for (const s of document.querySelectorAll('main > section')) s.hidden = s.id !== 'tab-' + name;
    if (lists[name]) lists[name].draw();
  }
  for (const b of document.querySelectorAll('nav button')) b.addEventListener('click', () => showTab(b.dataset.tab));
  const dialog = document.getElementById('pair-dialog');
  const closeDialog = () => { dialog.hidden = true; dialog.querySelector('.body').replaceChildren(); };
  dialog.querySelector('.close').addEventListener('click', closeDialog);
  dialog.addEventListener('click', (ev) => { if (ev.target === dialog) closeDialog(); });
  document.addEventListener('keydown', (ev) => { if (ev.key === 'Escape' && !dialog.hidden) closeDialog(); });
  document.getElementById('tab-thresholds').addEventListener('click', (ev) => {
    const tr = ev.target.closest('tr[data-expl]');
    if (!tr) return;
    const e = D.explanations[Number(tr.dataset.expl)];
    dialog.querySelector('.body').replaceChildren(
      el('h3', { dir: 'auto', text: `${id(e.a)} ~ ${id(e.b)}` }), renderPair(e, 'A', 'B'));
    dialog.hidden = false;
  });
  const debounce = (f) => { let t; return () => { clearTimeout(t); t = setTimeout(f, 120); }; };
  document.getElementById('cluster-filter').addEventListener('input', debounce(filterClusters));
  document.getElementById('cluster-stage').addEventListener('change', filterClusters);
  document.getElementById('cluster-sort').addEventListener('change', filterClusters);
  document.getElementById('related-filter').addEventListener('input', debounce(filterRelated));
  document.getElementById('rejected-filter').addEventListener('input', debounce(filterRejected));
  filterClusters();
  filterRelated();
  filterRejected();
  document.body.dataset.ready = 'true';
})();
