using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using ShopAstro.EdgeApi.Http;

namespace ShopAstro.EdgeApi.Auth;

/// <summary>
/// <c>Authorization: Bearer &lt;token&gt;</c>, or the <c>access_token</c> query parameter on the SignalR hub,
/// where browsers cannot set headers on WebSockets.
/// </summary>
public sealed class BearerTokenHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    TokenRegistry tokens) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "Bearer";
    public const string HubPathPrefix = "/hubs/";

    /// <summary>
    /// The Orleans dashboard is a browser app whose own requests carry no header: an admin signs in at
    /// <see cref="DashboardLogin.LoginPath"/>, which keeps the token in a cookie for that path.
    /// </summary>
    public const string DashboardPath = "/orleans";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var token = ReadToken();
        if (token.IsEmpty)
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        if (tokens.Find(Context, token) is not { } grant)
        {
            return Task.FromResult(AuthenticateResult.Fail("Unknown bearer token."));
        }

        return Task.FromResult(grant.Authenticated);
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        // A browser opening the Orleans dashboard without its cookie is sent to the login form.
        if (Request.Path.StartsWithSegments(DashboardPath) && HttpMethods.IsGet(Request.Method)
            && Request.GetTypedHeaders().Accept.Any(accept => accept.MediaType.Equals("text/html", StringComparison.OrdinalIgnoreCase)))
        {
            Response.Redirect(DashboardLogin.LoginPath);
            return Task.CompletedTask;
        }

        Response.Headers.WWWAuthenticate = "Bearer";
        return WriteProblem(StatusCodes.Status401Unauthorized, "unauthorized", "A valid bearer token is required.");
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        WriteProblem(StatusCodes.Status403Forbidden, "forbidden", "This token does not cover this store or operation.");

    private ReadOnlySpan<char> ReadToken()
    {
        var fromHeader = FromHeader(Request.Headers.Authorization);
        if (!fromHeader.IsEmpty)
        {
            return fromHeader;
        }

        if (Request.Path.StartsWithSegments(HubPathPrefix.TrimEnd('/')) && Request.Query["access_token"] is { Count: 1 } query)
        {
            return query[0].AsSpan();
        }

        // Never from the dashboard's query string: a token in a URL ends up in logs, proxies and browser history.
        if (Request.Path.StartsWithSegments(DashboardPath) && Request.Cookies[DashboardLogin.CookieName] is { Length: > 0 } cookie)
        {
            return cookie.AsSpan();
        }

        return [];
    }

    /// <summary>The token of an <c>Authorization: Bearer</c> header; empty when there is none.</summary>
    public static ReadOnlySpan<char> FromHeader(Microsoft.Extensions.Primitives.StringValues header) =>
        header.Count == 1 && header[0] is { } value && value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
            ? value.AsSpan(7).Trim()
            : [];

    private Task WriteProblem(int status, string code, string title) =>
        EdgeProblems.WriteAsync(Response, EdgeProblems.Details(status, code, title));
}
