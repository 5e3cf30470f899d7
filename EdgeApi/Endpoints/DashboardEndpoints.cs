using Microsoft.AspNetCore.Hosting.StaticWebAssets;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.Extensions.FileProviders;
using ShopAstro.EdgeApi.Http;

namespace ShopAstro.EdgeApi.Endpoints;

/// <summary>
/// The seller dashboard: <c>GET /dashboard/{storeId}</c> answers the page (no token needed; the page asks for
/// one and sends it on its own API and hub calls), and the files under <c>wwwroot/dashboard</c> and
/// <c>wwwroot/lib</c> are served as they are.
/// </summary>
public static class DashboardEndpoints
{
    public const string PagePath = "dashboard/index.html";

    // The page runs only its own files: no inline script or style, no other origin.
    private const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

    public static WebApplication MapDashboard(this WebApplication app)
    {
        var webRoot = FindWebRoot(app);
        if (webRoot is null)
        {
            app.Logger.LogWarning("The dashboard's files ({Page}) were not found in the web root, beside the application or through its static web assets manifest; /dashboard answers 404.", PagePath);
            return app;
        }

        app.UseStaticFiles(new StaticFileOptions
        {
            FileProvider = webRoot,
            OnPrepareResponse = context => NoCache(context.Context.Response),
        });

        // {storeId} leaves the dashboard's own files (dashboard.js, dashboard.css) to the static files above:
        // they are served only where no endpoint matched.
        var page = RoutePatternFactory.Parse(
            "/dashboard/{storeId}",
            defaults: null,
            parameterPolicies: new { storeId = new StorePageConstraint(webRoot) });
        app.Map(page, context => ServePage(context, webRoot))
            .WithMetadata(new HttpMethodMetadata([HttpMethods.Get, HttpMethods.Head]))
            .WithName("Dashboard")
            .ExcludeFromDescription();
        return app;
    }

    private static Task ServePage(HttpContext context, IFileProvider webRoot)
    {
        var page = webRoot.GetFileInfo(PagePath);
        var response = context.Response;
        response.ContentType = "text/html; charset=utf-8";
        response.ContentLength = page.Length;
        NoCache(response);
        response.Headers.ContentSecurityPolicy = ContentSecurityPolicy;
        response.Headers["Referrer-Policy"] = "no-referrer";
        response.Headers.XFrameOptions = "DENY";
        return HttpMethods.IsHead(context.Request.Method) ? Task.CompletedTask : response.SendFileAsync(page, context.RequestAborted);
    }

    private static void NoCache(HttpResponse response)
    {
        // Revalidated on every load (ETag / Last-Modified), so an upgraded edge API serves its new page at once.
        response.Headers.CacheControl = "no-cache";
        response.Headers.XContentTypeOptions = "nosniff";
    }

    /// <summary>
    /// The web root that holds the dashboard: the host's (the project folder when started there, or under
    /// WebApplicationFactory), else <c>wwwroot</c> beside the application (published), else the project's
    /// <c>wwwroot</c> named by the build's static web assets manifest (<c>dotnet run --project EdgeApi</c>
    /// from another folder, whose working folder is the content root).
    /// </summary>
    private static IFileProvider? FindWebRoot(WebApplication app)
    {
        var environment = app.Environment;
        if (HasPage(environment.WebRootFileProvider))
        {
            return environment.WebRootFileProvider;
        }

        var beside = Path.Combine(AppContext.BaseDirectory, "wwwroot");
        if (File.Exists(Path.Combine(beside, PagePath)))
        {
            return new PhysicalFileProvider(beside);
        }

        // Adds the manifest's folders to the host's web root file provider, as Development does by itself.
        StaticWebAssetsLoader.UseStaticWebAssets(environment, app.Configuration);
        return HasPage(environment.WebRootFileProvider) ? environment.WebRootFileProvider : null;
    }

    private static bool HasPage(IFileProvider? files) => files?.GetFileInfo(PagePath).Exists == true;

    /// <summary>A valid store id that is not the name of one of the dashboard's own files.</summary>
    private sealed class StorePageConstraint(IFileProvider webRoot) : IRouteConstraint
    {
        public bool Match(HttpContext? httpContext, IRouter? route, string routeKey, RouteValueDictionary values, RouteDirection routeDirection) =>
            values.TryGetValue(routeKey, out var value)
            && value is string storeId
            && Ids.IsValid(storeId)
            && !webRoot.GetFileInfo("dashboard/" + storeId).Exists;
    }
}
