// waitline's service worker (served at /sw.js, scope /): shows the pushes the queue sends a guest who
// opted in on their status page ("Tell me when it's my turn"), and opens their live page on a tap.
self.addEventListener("push", (event) => {
  let message = { title: "waitline", body: "", url: "/" };
  try {
    message = { ...message, ...event.data.json() };
  } catch (error) {
    message.body = event.data ? event.data.text() : "";
  }
  event.waitUntil(
    self.registration.showNotification(message.title, {
      body: message.body,
      data: { url: message.url },
      tag: message.url,
      renotify: true,
    })
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = (event.notification.data && event.notification.data.url) || "/";
  event.waitUntil(self.clients.openWindow(url));
});
