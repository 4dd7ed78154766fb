// Starts Swagger UI on the application's own document. A file, not an inline
// script, so that the page's Content-Security-Policy can say script-src 'self'.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null, // no badge fetched from validator.swagger.io
  });
});
