using System.Text;
using System.Text.Encodings.Web;
using ShopAstro.Storefront.Client;
using ShopAstro.Storefront.Client.AspNetCore;

namespace ShopAstro.Samples.Storefront;

/// <summary>
/// The product page, rendered on the server from this request's decisions: the analytics tag only where
/// <c>analytics</c> is allowed, "recommended for you" only where <c>recommendation</c> is.
/// </summary>
public static class ProductPage
{
    /// <summary>The tracking tag; its id is what tests and readers look for.</summary>
    public const string TrackingScriptId = "shopastro-analytics";
    public const string RecommendationsId = "recommended-for-you";

    private static readonly (string Name, string Price)[] _recommended =
    [
        ("Star diagonal, 1.25\"", "¥ 199"),
        ("Red-dot finder", "¥ 149"),
        ("Moon filter", "¥ 89"),
    ];

    public static IResult Render(HttpContext context)
    {
        var consent = context.GetConsentDecisions();
        var analytics = consent.IsAllowed(ConsentPurposes.Analytics);
        var recommendation = consent.IsAllowed(ConsentPurposes.Recommendation);
        var cart = consent.IsAllowed(ConsentPurposes.Cart);

        var html = new StringBuilder(4096);
        html.Append("""
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Astro 80 refractor · ShopAstro demo store</title>
            <link rel="icon" href="data:,">
            <style>
            body{font:16px/1.5 system-ui,sans-serif;margin:0;color:#1d2433;background:#f6f7fb}
            header{background:#1d2433;color:#fff;padding:.75rem 1.5rem;display:flex;justify-content:space-between;align-items:center}
            header a{color:#fff}
            main{max-width:60rem;margin:0 auto;padding:1.5rem}
            .product{display:grid;grid-template-columns:16rem 1fr;gap:1.5rem;background:#fff;border-radius:8px;padding:1.5rem}
            .product .photo{background:radial-gradient(circle at 30% 30%,#3b4a6b,#0b1020);border-radius:8px;min-height:14rem;color:#fff;display:grid;place-items:center;font-size:3rem}
            .price{font-size:1.5rem;font-weight:600}
            .buy{font:inherit;padding:.6rem 1.2rem;border-radius:6px;border:0;background:#2456d3;color:#fff;cursor:pointer}
            .buy:disabled{background:#8a94a8;cursor:not-allowed}
            .recommended{margin-top:1.5rem;background:#fff;border-radius:8px;padding:1rem 1.5rem}
            .recommended ul{display:flex;gap:1rem;list-style:none;padding:0}
            .recommended li{border:1px solid #d8dce6;border-radius:6px;padding:.75rem 1rem}
            footer{max-width:60rem;margin:0 auto;padding:0 1.5rem 8rem;color:#4a5368;font-size:.875rem}
            .linklike{font:inherit;background:none;border:0;padding:0;color:#2456d3;text-decoration:underline;cursor:pointer}
            </style>

            """);
        if (analytics)
        {
            html.Append($"""<script id="{TrackingScriptId}" src="/analytics.js" defer></script>""").Append('\n');
        }

        html.Append($"""
            <script src="/consent-banner.js" defer data-endpoint="{StorefrontEndpoints.ConsentPath}" data-state-endpoint="{StorefrontEndpoints.ConsentStatePath}"></script>
            </head>
            <body>
            <header><strong>ShopAstro demo store</strong><span>Store {Encode(consent.Decisions.StoreId)}</span></header>
            <main>
            <article class="product" aria-labelledby="product-name">
            <div class="photo" aria-hidden="true"><svg width="160" height="120" viewBox="0 0 160 120"><g fill="none" stroke="#e8ecf6" stroke-width="5" stroke-linecap="round"><path d="M20 70 L130 25"/><path d="M28 86 L140 40"/><path d="M20 70 L28 86"/><path d="M130 25 L140 40"/><path d="M80 62 L60 112 M80 62 L100 112 M80 62 L80 112"/></g></svg></div>
            <div>
            <h1 id="product-name">Astro 80 refractor</h1>
            <p class="price">¥ 1,299</p>
            <p>An 80 mm apochromatic refractor for the Moon, the planets and bright deep-sky objects. Light enough for a balcony, sharp enough for a dark site.</p>
            <button type="button" class="buy" data-testid="add-to-cart"{(cart ? "" : " disabled")}>{(cart ? "Add to cart" : "Cart unavailable right now")}</button>
            </div>
            </article>

            """);
        if (recommendation)
        {
            html.Append($"""<section class="recommended" id="{RecommendationsId}" aria-labelledby="recommended-title">""")
                .Append("""<h2 id="recommended-title">Recommended for you</h2><ul>""");
            foreach (var (name, price) in _recommended)
            {
                html.Append("<li>").Append(Encode(name)).Append("<br><strong>").Append(Encode(price)).Append("</strong></li>");
            }

            html.Append("</ul></section>\n");
        }

        html.Append("</main>\n<footer><p>");
        html.Append("""<button type="button" class="linklike" data-shopastro-consent-open>Privacy choices</button>""");
        html.Append(""" · <span data-testid="consent-reasons">""");
        html.AppendJoin(" · ", ConsentMiddlewareOptions.DefaultPurposes.Select(p => $"{p}: {Encode(consent.ReasonFor(p))}"));
        html.Append("</span></p></footer>\n</body>\n</html>\n");

        // Personal: the page differs per shopper and per consent; no shared cache may keep it.
        context.Response.Headers.CacheControl = "no-store";
        return TypedResults.Content(html.ToString(), "text/html; charset=utf-8");
    }

    private static string Encode(string text) => HtmlEncoder.Default.Encode(text);
}
