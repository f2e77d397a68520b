// Entry point for running the CLI from source (tests): node --import tsx lib/cli/run.ts ...
import { main } from './main.js';

main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (err) => { console.error(err); process.exitCode = 1; });
