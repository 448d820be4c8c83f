export default {
  fetch(): Response {
    return new Response("b");
  },
};
