using ShopAstro.Storefront.Client.AspNetCore;

namespace Microsoft.AspNetCore.Builder;

public static class ShopAstroConsentApplicationBuilderExtensions
{
    /// <summary>
    /// Checks consent for every request (after authentication, before the endpoints that need it): one edge
    /// call per request; the result via <c>HttpContext.GetConsentDecisions()</c>. Needs
    /// <c>services.AddShopAstroConsent(...)</c>.
    /// </summary>
    public static IApplicationBuilder UseShopAstroConsent(this IApplicationBuilder app, Action<ConsentMiddlewareOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(app);
        var options = new ConsentMiddlewareOptions();
        configure?.Invoke(options);
        return app.UseMiddleware<ConsentMiddleware>(options);
    }
}
