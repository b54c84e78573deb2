// Starts Swagger UI (swagger-ui-dist, vendored beside this file) on /docs. A file rather than an inline
// script: the page's Content-Security-Policy runs scripts from this origin only.
"use strict";
(function () {
  const root = document.getElementById("swagger-ui");
  window.ui = window.SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    domNode: root,
    deepLinking: true,
    validatorUrl: null, // no badge from swagger.io
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
})();
