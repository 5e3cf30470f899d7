// Stand-in for a real analytics tag. The product page includes it only where the consent edge allowed
// analytics for this shopper, so it does nothing but show that it ran.
(() => {
  "use strict";
  document.documentElement.dataset.analytics = "loaded";
})();
