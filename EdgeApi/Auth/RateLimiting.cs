using System.Globalization;
using System.Threading.RateLimiting;
using ShopAstro.EdgeApi.Http;

namespace ShopAstro.EdgeApi.Auth;

/// <summary><c>RateLimits:*</c>: a token bucket per bearer token.</summary>
public sealed class RateLimitSettings
{
    public const string Section = "RateLimits";

    /// <summary>
    /// Sustained requests per second of one token. Sized for a storefront checking on every page view, at about
    /// what one edge process answers from its decision cache on two cores.
    /// </summary>
    public int PermitsPerSecond { get; set; } = 100_000;

    /// <summary>How many requests one token may send at once above the sustained rate.</summary>
    public int Burst { get; set; } = 200_000;
}

public static class RateLimiting
{
    /// <summary>
    /// Each token gets its own bucket on the API and the hub; a token over its limit gets 429 with
    /// Retry-After and does not slow any other. Requests without a valid token are not limited here: they
    /// end in a cheap 401.
    /// </summary>
    public static WebApplicationBuilder AddEdgeRateLimiting(this WebApplicationBuilder builder)
    {
        var settings = builder.Configuration.GetSection(RateLimitSettings.Section).Get<RateLimitSettings>() ?? new RateLimitSettings();
        builder.Services.AddSingleton(services => new TokenRateLimits(services.GetRequiredService<TokenRegistry>(), settings));
        return builder;
    }

    /// <summary>
    /// After authentication: the bucket is the authenticated token's. ASP.NET Core's rate limiting middleware is not
    /// used: it builds a partitioned limiter for endpoint policies (this API has none) whose timer nobody disposes, so
    /// every stopped app stays reachable from the process's timer queue (dotnet/aspnetcore#69259), which in the test
    /// suite's hundreds of in-process apps was gigabytes.
    /// </summary>
    public static IApplicationBuilder UseTokenRateLimits(this IApplicationBuilder app) => app.UseMiddleware<TokenRateLimiting>();

    /// <summary>The API and the hub; health, metrics and the support files stay reachable for operators.</summary>
    private static bool IsLimited(PathString path) =>
        path.StartsWithSegments("/v1") || path.StartsWithSegments(BearerTokenHandler.HubPathPrefix.TrimEnd('/'));

    private sealed class TokenRateLimiting(RequestDelegate next, TokenRateLimits limits)
    {
        public async Task InvokeAsync(HttpContext context)
        {
            if (!IsLimited(context.Request.Path) || context.User.FindFirst(EdgePolicies.TokenIdClaim)?.Value is not { } token
                || limits.For(token) is not { } bucket)
            {
                await next(context);
                return;
            }

            using var lease = bucket.AttemptAcquire();
            if (lease.IsAcquired)
            {
                await next(context);
                return;
            }

            var retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : TimeSpan.FromSeconds(1);
            context.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
            await EdgeProblems.WriteAsync(context.Response, EdgeProblems.Details(StatusCodes.Status429TooManyRequests, "rate_limited",
                "Too many requests for this token.", $"This token may send {limits.PermitsPerSecond} requests per second."));
        }
    }
}

/// <summary>
/// The one bucket of each configured token, created at start-up: shared by the token rate limiting middleware and the
/// check fast path, so a request counts once against its token whichever of them answers it.
/// </summary>
public sealed class TokenRateLimits : IDisposable
{
    private static readonly TimeSpan FineReplenishment = TimeSpan.FromMilliseconds(100);
    private readonly Dictionary<string, TokenBucketRateLimiter> _buckets;

    public TokenRateLimits(TokenRegistry tokens, RateLimitSettings settings)
    {
        PermitsPerSecond = settings.PermitsPerSecond;
        // Refilled ten times a second when that is a whole number of permits each time; a limit under ten per
        // second is refilled once a second, so that it is the limit and not ten per second.
        var permits = Math.Max(1, settings.PermitsPerSecond);
        var (perPeriod, replenishment) = permits >= 10
            ? ((int)(permits * FineReplenishment.TotalSeconds), FineReplenishment)
            : (permits, TimeSpan.FromSeconds(1));
        _buckets = tokens.Grants.ToDictionary(grant => grant.Id, _ => new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
        {
            TokenLimit = Math.Max(1, settings.Burst),
            TokensPerPeriod = perPeriod,
            ReplenishmentPeriod = replenishment,
            QueueLimit = 0,
            AutoReplenishment = true,
        }), StringComparer.Ordinal);
    }

    /// <summary>The sustained rate each bucket allows, as configured.</summary>
    public int PermitsPerSecond { get; }

    /// <summary>A lease for requests that no bucket limits.</summary>
    public static RateLimitLease Unlimited { get; } = new UnlimitedLease();

    public RateLimiter? For(string tokenId) => _buckets.GetValueOrDefault(tokenId);

    public void Dispose()
    {
        foreach (var bucket in _buckets.Values)
        {
            bucket.Dispose();
        }
    }

    private sealed class UnlimitedLease : RateLimitLease
    {
        public override bool IsAcquired => true;

        public override IEnumerable<string> MetadataNames => [];

        public override bool TryGetMetadata(string metadataName, out object? metadata)
        {
            metadata = null;
            return false;
        }
    }
}
