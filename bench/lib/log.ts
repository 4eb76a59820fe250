/** Progress lines of `npm run bench`, on stderr so that stdout carries only the report. */
export const log = (msg: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
