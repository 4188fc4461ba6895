/**
 * Benchmark entry: `npm run bench` runs every suite; `npm run bench -- engine` one of them.
 */
const suites: Record<string, string> = {
  engine: './engine.ts',
  blocks: './blocks.ts',
  strategies: './strategies.ts',
}
const wanted = process.argv.slice(2).filter((a) => a in suites)
for (const name of wanted.length > 0 ? wanted : Object.keys(suites)) {
  console.log(`\n=== ${name} ===`)
  await import(suites[name])
}
