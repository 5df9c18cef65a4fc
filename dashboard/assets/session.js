/* A dashboard request answered 401 means the session ended (expired, logged out, user
   disabled): go to the login page, coming back here after signing in. The answer is never
   handed to Dash (a promise that stays pending): the page is leaving, and Dash would log
   the refusal as an error. */
(function () {
  const original = window.fetch;
  let leaving = false;
  window.fetch = function () {
    return original.apply(this, arguments).then(function (response) {
      if (response.status !== 401) return response;
      if (!leaving) {
        leaving = true;
        const here = window.location.pathname + window.location.search;
        window.location.assign("/login?expired=1&next=" + encodeURIComponent(here));
      }
      return new Promise(function () {});
    });
  };
})();
