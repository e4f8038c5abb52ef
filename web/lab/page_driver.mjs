// A person at a ferry page, for the network lab (tests/lab/browser_paths.py): real headless
// Chromium inside a host's namespace, behind that host's router, driven as a person would.
//   node web/lab/page_driver.mjs receive LINK OUTFILE   opens the link, prints {"event":"ready"},
//       waits for a line on stdin (the lab resets its counters meanwhile), receives, saves OUTFILE
//   node web/lab/page_driver.mjs send SERVER FILE       picks FILE on the send page, prints
//       {"event":"link","link":…}, waits until the receiver is done
// Then {"event":"done","path":"direct"|"relay","text":…} (the page's own words on its path), or
// {"event":"error","message":…}. A proxy named by https_proxy (a proxy-only network) is
// Chromium's proxy.
import { execFileSync } from 'node:child_process';
import readline from 'node:readline';

import { downloadPage, launchChromium } from '../test/helpers.js';

const [mode, target, file] = process.argv.slice(2);
const say = (event) => console.log(JSON.stringify(event));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const TIMEOUT = 90000;

// A fresh namespace's links get their IPv6 link-local addresses a second or two after they came
// up (duplicate address detection); Chromium fails requests under way when they appear
// (ERR_NETWORK_CHANGED). It starts once no address is tentative, as on a booted machine.
for (let waited = 0; waited < 10000; waited += 100) {
  if (!execFileSync('ip', ['-6', 'addr', 'show', 'tentative'], { encoding: 'utf8' }).trim()) break;
  await new Promise((r) => setTimeout(r, 100));
}

const proxy = process.env.https_proxy;
// The lab's server speaks plain HTTP at a TEST-NET address; a real one is HTTPS. The page needs a
// secure context (its service worker, the download stream): Chromium treats this origin as one.
const origin = new URL(target).origin;
const browser = await launchChromium(CHROMIUM, [
  '--unsafely-treat-insecure-origin-as-secure=' + origin, ...(proxy ? ['--proxy-server=' + proxy] : []),
]);
try {
  const page = await downloadPage(browser);
  page.setDefaultTimeout(TIMEOUT);
  page.on('console', (m) => process.stderr.write('page: ' + m.text() + '\n')); // (in the row's error)
  if (mode === 'receive') {
    await page.goto(target);
    say({ event: 'ready' });
    const lines = readline.createInterface({ input: process.stdin });
    await new Promise((resolve) => lines.once('line', resolve));
    lines.close();
    await page.click('#receive:not([disabled])');
    await page.waitForSelector('#offer:not([hidden])');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#save')]);
    await download.saveAs(file);
    await page.waitForSelector('#done:not([hidden]), #error:not([hidden])');
  } else if (mode === 'send') {
    await page.goto(target + '/');
    await page.setInputFiles('#files', file);
    await page.click('#send:not([disabled])');
    await page.waitForSelector('#code-box:not([hidden])');
    say({ event: 'link', link: await page.getAttribute('#link', 'href') });
    await page.waitForSelector('#done:not([hidden]), #error:not([hidden])');
  } else {
    throw new Error('mode: receive or send');
  }
  if (await page.isVisible('#error')) {
    say({ event: 'error', message: (await page.textContent('#error-text')) + ' ' + (await page.textContent('#error-detail')) });
  } else {
    say({ event: 'done', path: await page.getAttribute('#path', 'data-path'), text: await page.textContent('#path') });
  }
} catch (e) {
  say({ event: 'error', message: String(e.message || e) });
} finally {
  await browser.close();
}
