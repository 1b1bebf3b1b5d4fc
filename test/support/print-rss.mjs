// `node --import ./print-rss.mjs program ...`: prints the process's peak resident set size on exit.
process.on('exit', () => {
  process.stderr.write(`\n[max-rss-kib] ${process.resourceUsage().maxRSS}\n`);
});
