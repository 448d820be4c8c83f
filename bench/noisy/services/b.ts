// The victim: a hello world.
export default {
  fetch(): Response {
    return new Response("b");
  },
};
