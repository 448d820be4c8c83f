// The benchmark's subscriber: reads the event and does nothing else.
let handled = 0;
export default {
  event(event: { data: { n: number } }): void {
    if (typeof event.data.n === "number") handled++;
  },
  fetch(): Response {
    return new Response(String(handled));
  },
};
