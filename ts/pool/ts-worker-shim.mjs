// Used only when the package runs from its TypeScript sources (tests, benchmarks): Node 20
// does not apply the parent's `--import tsx` hooks inside worker threads, so the worker
// registers tsx itself before importing its real entry. Compiled builds never load this.
import { workerData } from 'node:worker_threads'
import { register } from 'tsx/esm/api'

register()
await import(workerData.entry)
