/**
 * The worker-thread side of `ParserThread`: parses what it is sent with the bounded parsers and
 * posts the result back. Runs in its own isolate, so a slow or huge parse never stalls the event
 * loop that serves traffic, and its heap limit bounds what a memory bomb can take.
 */
import { parentPort } from 'node:worker_threads';
import type { ParseJob, ParseReply, ParseResult } from './parser-thread.ts';
import { packKnownResult } from './parser-thread.ts';
import { KnownMirrors } from './known-table.ts';
import { API_BODY_LIMITS, parseJsonBounded, parseYamlBounded } from './bounded.ts';
import { ManifestParseCache } from './incremental.ts';
import { parseManifestText } from './parse.ts';
import { FileReader, isBlank } from './file-read.ts';

/** Each manifest file's previous parse, so that the next parse follows the edit (bounded: see ManifestParseCache). */
const previous = new ManifestParseCache();
/** Each manifest file's known fingerprints, as its last job left them (a job carries what changed since). */
const mirrors = new KnownMirrors();
/** The one buffer manifest files are read into (the largest file's size, at most its limit). */
const reader = new FileReader();

function run(job: ParseJob): ParseResult {
  switch (job.kind) {
    case 'manifest':
      return { kind: 'manifest', result: parseManifestText(job.text, job.file, job.limits) };
    case 'known': {
      const key = job.key ?? job.file;
      const known = mirrors.apply(key, job.known);
      if (known === undefined) return { kind: 'stale' };
      // Packed: the known entries go back as slots of the known table, not as copies of its strings.
      // The copy's index serves as the parse's known set and as the index the answer is packed against.
      return { kind: 'known', result: packKnownResult(previous.parse(job.bytes, job.file, job.limits, known.index, key), known.names, known.index) };
    }
    case 'file': {
      // Before the read: a reply other than stale means the copy is the job's generation.
      const known = mirrors.apply(job.key, job.known);
      if (known === undefined) return { kind: 'stale' };
      const read = reader.read(job.path, job.limits.maxBytes);
      if (!read.ok) return { kind: 'unread', code: read.code, message: read.message };
      // The cache keeps no view of the bytes (it copies those it keeps): the buffer is free for the next read.
      // Answered as the job's generation, relative to the answer whose objects the watcher holds.
      const result = previous.parseAnswer(read.bytes, job.file, job.limits, known.index, job.key, job.known.generation, job.base);
      return { kind: 'file', result: packKnownResult(result, known.names, known.index), blank: isBlank(read.bytes) };
    }
    case 'json':
      return { kind: 'documents', documents: [parseJsonBounded(job.text, job.limits ?? API_BODY_LIMITS)] };
    case 'yaml':
      return { kind: 'documents', documents: parseYamlBounded(job.text, job.limits ?? API_BODY_LIMITS) };
  }
}

parentPort?.on('message', (job: ParseJob) => {
  let reply: ParseReply;
  try {
    reply = { id: job.id, result: run(job) };
  } catch (error) {
    // The parsers never throw for input; this is a bug, reported rather than hanging the caller.
    reply = { id: job.id, error: (error as Error).message };
  }
  parentPort!.postMessage(reply);
});
