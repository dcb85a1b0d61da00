/**
 * Reading one cookie of a request as nginx's `$cookie_<name>` does: the first `name=value` pair
 * of the Cookie header whose name equals `name` ignoring case, value up to the next `;`, with
 * surrounding spaces trimmed. Part of the snapshot contract (canary and affinity read cookies).
 */

/**
 * The value of cookie `name` in the Cookie header `header`, or undefined when the header is
 * absent or carries no such cookie. `name` must not contain `=` or `;`.
 */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  const want = name.toLowerCase();
  let at = 0;
  while (at < header.length) {
    let end = header.indexOf(';', at);
    if (end < 0) end = header.length;
    const eq = header.indexOf('=', at);
    if (eq > at && eq < end && header.slice(at, eq).trim().toLowerCase() === want) return header.slice(eq + 1, end).trim();
    at = end + 1;
  }
  return undefined;
}
