/**
 * Buffer's latin1 fast paths (stable since Node 0.x, used by Node's own http code) are missing
 * from @types/node; the parsers use them to skip toString()'s encoding dispatch on the hot path.
 */
declare global {
  interface Buffer {
    latin1Slice(start: number, end: number): string;
    latin1Write(text: string, offset: number, length?: number): number;
  }
}
export {};
