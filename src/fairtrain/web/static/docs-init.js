// Starts the API's interactive documentation (/docs) from the app's own assets: no CDN, no inline script.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json", dom_id: "#swagger-ui", layout: "BaseLayout", deepLinking: true,
    validatorUrl: null, presets: [SwaggerUIBundle.presets.apis],
  });
});
