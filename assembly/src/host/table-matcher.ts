/**
 * A matcher that speaks a MatcherTable's own route ids over a grid-encoded table, whose ids are
 * the grid's (grid-table.ts): what loadMatcher gives, so a table's author (tests, explain) reads
 * its ids back. The data plane loads bundles, whose metadata already names the grid's ids.
 */
import type { Matcher, RequestHeaders } from './matcher.ts';

/** `matcher` (grid ids) answering in table ids: `routeIds` maps a table id to its grid id. */
export class TableIdMatcher implements Matcher {
  readonly #matcher: Matcher;
  readonly #routeIds: Uint32Array;
  /** By grid id: the table id (-1 for an id no route has). */
  readonly #tableIds: Int32Array;

  constructor(matcher: Matcher, routeIds: Uint32Array) {
    this.#matcher = matcher;
    this.#routeIds = routeIds;
    this.#tableIds = new Int32Array(matcher.routeCount).fill(-1);
    routeIds.forEach((grid, table) => (this.#tableIds[grid] = table));
  }

  /** The grid id of table id `route` (-1 outside the table: wasm then picks nothing). */
  #grid(route: number): number {
    return Number.isInteger(route) && route >= 0 && route < this.#routeIds.length ? this.#routeIds[route]! : -1;
  }

  get routeCount(): number {
    return this.#routeIds.length;
  }

  get endpointCount(): number {
    return this.#matcher.endpointCount;
  }

  match(host: string, path: string, method: string, headers?: RequestHeaders): number {
    const id = this.#matcher.match(host, path, method, headers);
    return id < 0 ? id : this.#tableIds[id]!;
  }

  pick(route: number): number {
    return this.#matcher.pick(this.#grid(route));
  }

  pickIn(route: number, allowed: number): number {
    return this.#matcher.pickIn(this.#grid(route), allowed);
  }

  pickHash(route: number, allowed: number, key: number, subset?: number, random?: number): number {
    return this.#matcher.pickHash(this.#grid(route), allowed, key, subset, random);
  }

  pickId(route: number, allowed: number, endpoint: number): number {
    return this.#matcher.pickId(this.#grid(route), allowed, endpoint);
  }

  pickLeastLoaded(route: number, allowed: number, random: number): number {
    return this.#matcher.pickLeastLoaded(this.#grid(route), allowed, random);
  }

  setScore(endpoint: number, score: number): void {
    this.#matcher.setScore(endpoint, score);
  }

  setSeed(endpoint: number, seed: number): void {
    this.#matcher.setSeed(endpoint, seed);
  }

  lastBackend(): number {
    return this.#matcher.lastBackend();
  }

  setHealthy(endpoint: number, healthy: boolean): void {
    this.#matcher.setHealthy(endpoint, healthy);
  }

  isHealthy(endpoint: number): boolean {
    return this.#matcher.isHealthy(endpoint);
  }
}
