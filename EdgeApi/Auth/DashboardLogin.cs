using System.Net;

namespace ShopAstro.EdgeApi.Auth;

/// <summary>
/// The Orleans dashboard (admins only) is a browser app whose own requests carry no header. An admin signs in once
/// at <c>/orleans/login</c>: a form POSTs the token in the body (never in the URL, where proxies, logs and browser
/// history keep it), and the answer keeps it in a cookie for <c>/orleans</c> only: HttpOnly, SameSite=Strict, and
/// Secure on HTTPS, including behind a TLS proxy (see <see cref="Hosting.ForwardedHeadersSetup"/>).
/// </summary>
public static class DashboardLogin
{
    public const string LoginPath = BearerTokenHandler.DashboardPath + "/login";
    public const string LogoutPath = BearerTokenHandler.DashboardPath + "/logout";
    public const string CookieName = "shopastro_admin";

    private const string ContentSecurityPolicy = "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

    public static WebApplication MapDashboardLogin(this WebApplication app)
    {
        app.MapGet(LoginPath, (HttpContext context) => Page(context, HttpStatusCode.OK, message: null))
            .ExcludeFromDescription();
        app.MapPost(LoginPath, SignIn).ExcludeFromDescription();
        app.MapPost(LogoutPath, (HttpContext context) =>
        {
            context.Response.Cookies.Delete(CookieName, CookieOptions(context));
            return Results.Redirect(LoginPath, permanent: false, preserveMethod: false);
        }).ExcludeFromDescription();
        return app;
    }

    private static async Task SignIn(HttpContext context, TokenRegistry tokens)
    {
        if (!context.Request.HasFormContentType)
        {
            await Page(context, HttpStatusCode.UnsupportedMediaType, "Send the form.");
            return;
        }

        var form = await context.Request.ReadFormAsync(context.RequestAborted);
        var token = form["token"].ToString().Trim();
        if (token.Length == 0 || tokens.Find(token) is not { Role: EdgeRoles.Admin })
        {
            await Page(context, HttpStatusCode.Unauthorized, "That is not an admin token.");
            return;
        }

        context.Response.Cookies.Append(CookieName, token, CookieOptions(context));
        context.Response.Headers.CacheControl = "no-store";
        context.Response.StatusCode = StatusCodes.Status303SeeOther;
        context.Response.Headers.Location = BearerTokenHandler.DashboardPath + "/";
    }

    private static CookieOptions CookieOptions(HttpContext context) => new()
    {
        HttpOnly = true,
        SameSite = SameSiteMode.Strict,
        Secure = context.Request.IsHttps,
        Path = BearerTokenHandler.DashboardPath,
        IsEssential = true,
    };

    private static Task Page(HttpContext context, HttpStatusCode status, string? message)
    {
        var response = context.Response;
        response.StatusCode = (int)status;
        response.ContentType = "text/html; charset=utf-8";
        response.Headers.CacheControl = "no-store";
        response.Headers.ContentSecurityPolicy = ContentSecurityPolicy;
        response.Headers.XFrameOptions = "DENY";
        response.Headers["Referrer-Policy"] = "no-referrer";
        var error = message is null ? "" : $"<p role=\"alert\">{WebUtility.HtmlEncode(message)}</p>";
        return response.WriteAsync($$"""
            <!doctype html>
            <html lang="en">
            <head><meta charset="utf-8"><title>Orleans dashboard: sign in</title></head>
            <body>
            <h1>Orleans dashboard</h1>
            {{error}}
            <form method="post" action="{{LoginPath}}">
            <label for="token">Admin token</label>
            <input id="token" name="token" type="password" autocomplete="off" required>
            <button type="submit">Sign in</button>
            </form>
            </body>
            </html>
            """, context.RequestAborted);
    }
}
