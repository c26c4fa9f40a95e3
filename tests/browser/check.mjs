// Checks a simdex report.html in Debian's chromium, headless, driven by playwright-core.
// Run by tests/report.rs; usage:
//   node check.mjs REPORT_HTML OUT_DIR_OF_THE_RUN SCREENSHOT_PNG [OPEN_ID] [FIND_ID]
// It fails (exit status 1, the reason on stderr) unless: the page loads with no console error
// and no request other than the file itself; every cluster of clusters.jsonl appears in the
// cluster list (scrolled through, as it draws only the rows in view) while the list never
// holds more than a few dozen rows; opening the cluster of OPEN_ID shows both texts with
// marked shared text and the reason in words; the filter finds FIND_ID; the related and
// rejected tabs show their rows; and the screenshot is not blank.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [reportPath, outDir, screenshotPath, openId, findId] = process.argv.slice(2);
if (!reportPath || !outDir || !screenshotPath) {
  console.error('usage: node check.mjs REPORT_HTML OUT_DIR SCREENSHOT_PNG [OPEN_ID] [FIND_ID]');
  process.exit(2);
}
const CHROMIUM = process.env.SIMDEX_CHROMIUM || '/usr/bin/chromium';
/** Rows a lazily drawn list may hold at once (visible rows plus the overscan). */
const MAX_ROWS_IN_DOM = 80;

const jsonl = (name) => {
  const p = path.join(outDir, name);
  if (!fs.existsSync(p)) return [];
  return fs.readFileSync(p, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
};
const failures = [];
const check = (ok, what) => { if (!ok) failures.push(what); console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`); };

const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'simdex-chromium-'));
// A fresh profile folder each run (playwright passes it as --user-data-dir).
const context = await chromium.launchPersistentContext(profile, {
  executablePath: CHROMIUM,
  headless: true,
  viewport: { width: 1280, height: 900 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await context.newPage();
  const url = pathToFileURL(path.resolve(reportPath)).href;
  const errors = [];
  const requests = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('request', (r) => { if (r.url() !== url && !r.url().startsWith('data:')) requests.push(r.url()); });
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForSelector('body[data-ready="true"]', { timeout: 20000 });

  // Summary numbers are those of summary.json.
  const summary = JSON.parse(fs.readFileSync(path.join(outDir, 'summary.json'), 'utf8'));
  const shown = await page.textContent('#sum-removed .v');
  check(shown.trim() === String(summary.removed), `summary shows ${summary.removed} removed (page: ${shown})`);
  check((await page.locator('#tab-thresholds svg.hist').count()) === 3, 'three histograms drawn as inline SVG');
  check((await page.locator('#tab-thresholds svg line.thr').count()) >= 3, 'thresholds drawn on the histograms');

  // Every cluster of clusters.jsonl, by scrolling through the lazily drawn list.
  const clusters = jsonl('clusters.jsonl');
  await page.click('nav button[data-tab="clusters"]');
  const seen = await page.evaluate(async (maxRows) => {
    const box = document.getElementById('cluster-list');
    const names = new Set();
    let most = 0;
    const frame = () => new Promise((r) => requestAnimationFrame(() => r()));
    for (let top = 0; ; top += box.clientHeight / 2) {
      box.scrollTop = top;
      box.dispatchEvent(new Event('scroll'));
      await frame();
      const rows = box.querySelectorAll('.vrow');
      most = Math.max(most, rows.length);
      rows.forEach((r) => names.add(r.dataset.cluster));
      if (top > box.scrollHeight) break;
    }
    box.scrollTop = 0;
    box.dispatchEvent(new Event('scroll'));
    return { names: [...names], most, maxRows };
  }, MAX_ROWS_IN_DOM);
  const missing = clusters.filter((c) => !seen.names.includes(c.cluster)).map((c) => c.cluster);
  check(clusters.length > 0 && missing.length === 0,
    `all ${clusters.length} clusters of clusters.jsonl are listed${missing.length ? ` (missing ${missing.slice(0, 5)})` : ''}`);
  check(seen.names.length === clusters.length, `the list shows no other cluster (${seen.names.length} shown)`);
  check(seen.most <= MAX_ROWS_IN_DOM, `the list holds at most ${MAX_ROWS_IN_DOM} rows at once (${seen.most})`);

  if (openId) {
    await page.fill('#cluster-filter', openId);
    await page.waitForFunction((q) => {
      const rows = document.querySelectorAll('#cluster-list .vrow');
      return rows.length >= 1 && document.getElementById('cluster-count').textContent.startsWith(String(rows.length) + ' of');
    }, openId, { timeout: 5000 });
    await page.click('#cluster-list .vrow');
    const sec = page.locator(`#cluster-detail section.pair[data-removed="${openId}"]`);
    await sec.waitFor({ timeout: 5000 });
    const kept = clusters.find((c) => c.members.includes(openId));
    const text = await sec.textContent();
    check(kept && text.includes(kept.kept) && text.includes(openId), `the cluster of ${openId} shows it and its kept record ${kept && kept.kept}`);
    check(/Reason: duplicate/.test(text), 'the reason is given in words');
    const marksA = await sec.locator('table.aligned td.side.a mark').count();
    const marksB = await sec.locator('table.aligned td.side.b mark').count();
    check(marksA > 0 && marksB > 0, `shared text is marked on both sides (${marksA} / ${marksB} marks)`);
    await sec.locator('details > summary').click();
    const cols = await sec.locator('.sbs .col').count();
    const paras = await sec.locator('.sbs .col p.psg').count();
    check(cols === 2 && paras >= 2, `both whole texts are shown side by side (${paras} passages)`);
    // Nothing clipped: each passage is as tall as its text needs.
    const clipped = await sec.locator('p.psg').evaluateAll((ps) => ps.filter((p) => p.scrollHeight > p.clientHeight + 1).length);
    check(clipped === 0, `no passage is clipped (${clipped})`);
  }
  if (findId) {
    await page.fill('#cluster-filter', findId);
    await page.waitForFunction(() => document.getElementById('cluster-count').textContent.length > 0);
    await page.waitForTimeout(300);
    const rows = await page.locator('#cluster-list .vrow').evaluateAll((rs) => rs.map((r) => r.dataset.cluster));
    const want = clusters.filter((c) => c.members.includes(findId)).map((c) => c.cluster);
    check(want.length > 0 && rows.length === want.length && want.every((w) => rows.includes(w)),
      `the filter finds ${findId} in cluster ${want} (rows: ${rows.slice(0, 5)})`);
  }
  await page.fill('#cluster-filter', '');
  await page.waitForTimeout(300);

  const related = jsonl('related.jsonl');
  await page.click('nav button[data-tab="related"]');
  const relCount = await page.textContent('#related-count');
  check(relCount.startsWith(`${related.length} of ${related.length}`), `related tab counts ${related.length} pairs (${relCount})`);
  if (related.length) {
    await page.click('#related-list .vrow');
    const d = await page.textContent('#related-detail');
    check(/Reason: /.test(d) && d.includes(related[0].a), 'a related pair opens with its reason');
  }
  const rejected = jsonl('rejected.jsonl');
  await page.click('nav button[data-tab="rejected"]');
  const rejCount = await page.textContent('#rejected-count');
  const firstRej = rejected.length ? await page.textContent('#rejected-list .vrow') : '';
  check(rejCount.startsWith(`${rejected.length} of ${rejected.length}`) && (!rejected.length || firstRej.includes(rejected[0].reason)),
    `rejected tab lists ${rejected.length} records with their reasons (${rejCount})`);

  // The screenshot: the cluster of OPEN_ID when given, else the summary.
  if (openId) {
    await page.click('nav button[data-tab="clusters"]');
    await page.fill('#cluster-filter', openId);
    await page.waitForTimeout(300);
    await page.click('#cluster-list .vrow');
  } else {
    await page.click('nav button[data-tab="summary"]');
  }
  await page.waitForTimeout(200);
  const png = await page.screenshot({ path: screenshotPath, fullPage: false });
  // Decoded by the browser itself: a blank page has one colour almost everywhere.
  const blank = await context.newPage();
  const stats = await blank.evaluate(async (b64) => {
    const img = new Image();
    img.src = 'data:image/png;base64,' + b64;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.width; c.height = img.height;
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    const px = g.getImageData(0, 0, c.width, c.height).data;
    const counts = new Map();
    for (let i = 0; i < px.length; i += 4) {
      const k = (px[i] << 16) | (px[i + 1] << 8) | px[i + 2];
      counts.set(k, (counts.get(k) || 0) + 1);
    }
    const top = Math.max(...counts.values());
    return { w: c.width, h: c.height, colours: counts.size, background: top / (px.length / 4) };
  }, png.toString('base64'));
  await blank.close();
  check(stats.w > 0 && stats.colours >= 16 && stats.background < 0.97,
    `screenshot ${stats.w}x${stats.h} is not blank (${stats.colours} colours, background ${(100 * stats.background).toFixed(1)}%)`);

  check(errors.length === 0, `no console errors${errors.length ? ': ' + errors.slice(0, 3).join(' | ') : ''}`);
  check(requests.length === 0, `no network requests${requests.length ? ': ' + requests.slice(0, 3).join(' ') : ''}`);
} finally {
  await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
if (failures.length) {
  console.error(`${failures.length} check(s) failed:\n  ${failures.join('\n  ')}`);
  process.exit(1);
}
