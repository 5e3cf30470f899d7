using Microsoft.AspNetCore.Http;

namespace ShopAstro.Storefront.Client.AspNetCore;

/// <summary>What <c>app.UseShopAstroConsent(...)</c> checks, for whom, and where it does not.</summary>
public sealed class ConsentMiddlewareOptions
{
    /// <summary>The default purposes: tracking, recommendations and add-to-cart (policy-rules.md's three checks).</summary>
    public static IReadOnlyList<string> DefaultPurposes { get; } = [ConsentPurposes.Analytics, ConsentPurposes.Recommendation, ConsentPurposes.Cart];

    /// <summary>The purposes decided for every checked request, in one edge call.</summary>
    public IList<string> Purposes { get; set; } = [.. DefaultPurposes];

    /// <summary>
    /// Optional: the purposes a given request needs instead of <see cref="Purposes"/>. An empty answer resolves
    /// the subject (and issues its cookie) but asks the edge nothing.
    /// </summary>
    public Func<HttpContext, IEnumerable<string>>? PurposesForRequest { get; set; }

    /// <summary>
    /// The signed-in shopper's subject id, or null for an anonymous visitor, who is then identified by the
    /// <see cref="AnonymousCookieName"/> cookie (<c>anon:&lt;random&gt;</c>). Default: the authenticated
    /// user's name claim. Runs after authentication: put the middleware after <c>UseAuthentication()</c>.
    /// </summary>
    public Func<HttpContext, string?> AccountSubjectId { get; set; } = DefaultAccountSubjectId;

    /// <summary>Paths not checked at all (no cookie, no edge call). Default: paths of files (a last segment with an extension).</summary>
    public Func<PathString, bool> SkipPath { get; set; } = IsFilePath;

    public string AnonymousCookieName { get; set; } = "sa_anon";

    public TimeSpan AnonymousCookieLifetime { get; set; } = TimeSpan.FromDays(180);

    /// <summary>The store checked against; default <see cref="ConsentClientOptions.StoreId"/>.</summary>
    public string? StoreId { get; set; }

    public static string? DefaultAccountSubjectId(HttpContext context) =>
        context.User.Identity is { IsAuthenticated: true, Name: { Length: > 0 } name } ? name : null;

    /// <summary><c>/consent-banner.js</c>, <c>/css/site.css</c>, <c>/favicon.ico</c>: static files, which use no consent.</summary>
    public static bool IsFilePath(PathString path) => path.HasValue && Path.HasExtension(path.Value);
}
