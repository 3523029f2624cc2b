// Injected by the tests before any page script: report CSP violations to Python.
document.addEventListener("securitypolicyviolation", function (e) {
  window.reportCsp(e.violatedDirective + " " + e.blockedURI + " " + (e.sourceFile || ""));
});
