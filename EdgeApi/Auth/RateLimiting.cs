using System.Globalization;
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
        builder.Services.AddSingleton(services => new TokenRateLimits(services.GetRequiredService<TokenRegistry>(), settings,
            services.GetKeyedService<TimeProvider>(TokenRateLimits.ClockKey) ?? services.GetRequiredService<TimeProvider>()));
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

            if (bucket.TryTake())
            {
                await next(context);
                return;
            }

            // The next refill brings a permit.
            context.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(limits.RefillPeriod.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
            await EdgeProblems.WriteAsync(context.Response, EdgeProblems.Details(StatusCodes.Status429TooManyRequests, "rate_limited",
                "Too many requests for this token.", $"This token may send {limits.PermitsPerSecond} requests per second."));
        }
    }
}

/// <summary>
/// The one bucket of each configured token, created at start-up: shared by the token rate limiting middleware and the
/// check fast path, so a request counts once against its token whichever of them answers it. One timer of the given
/// clock refills them all (the app's clock, unless a <see cref="TimeProvider"/> is registered under
/// <see cref="ClockKey"/>).
/// </summary>
public sealed class TokenRateLimits : IDisposable
{
    /// <summary>The service key of a clock for the refills other than the app's.</summary>
    public const string ClockKey = "RateLimits";

    private static readonly TimeSpan FineRefill = TimeSpan.FromMilliseconds(100);
    private readonly Dictionary<string, TokenBucket> _buckets;
    private readonly ITimer _refills;

    public TokenRateLimits(TokenRegistry tokens, RateLimitSettings settings, TimeProvider clock)
    {
        PermitsPerSecond = settings.PermitsPerSecond;
        // Refilled ten times a second when that is a whole number of permits each time; a limit under ten per
        // second is refilled once a second, so that it is the limit and not ten per second.
        var permits = Math.Max(1, settings.PermitsPerSecond);
        (var perRefill, RefillPeriod) = permits >= 10 ? ((int)(permits * FineRefill.TotalSeconds), FineRefill) : (permits, TimeSpan.FromSeconds(1));
        _buckets = tokens.Grants.ToDictionary(grant => grant.Id, _ => new TokenBucket(Math.Max(1, settings.Burst), perRefill), StringComparer.Ordinal);
        _refills = clock.CreateTimer(_ => Refill(), null, RefillPeriod, RefillPeriod);
    }

    /// <summary>The sustained rate each bucket allows, as configured.</summary>
    public int PermitsPerSecond { get; }

    /// <summary>How often the buckets are refilled: the longest a token over its limit waits for its next permit.</summary>
    public TimeSpan RefillPeriod { get; }

    /// <summary>The token's bucket; none for a token that is not configured.</summary>
    public TokenBucket? For(string tokenId) => _buckets.GetValueOrDefault(tokenId);

    public void Dispose() => _refills.Dispose();

    private void Refill()
    {
        foreach (var bucket in _buckets.Values)
        {
            bucket.Refill();
        }
    }
}

/// <summary>
/// Permits of one token: full (the limit, the burst) at the start, one taken per request, and a refill's permits put
/// back at each refill up to the limit. Lock-free: a take is one compare-and-swap.
/// </summary>
public sealed class TokenBucket
{
    private readonly int _limit;
    private readonly int _perRefill;
    private int _permits;

    public TokenBucket(int limit, int perRefill)
    {
        _limit = limit;
        _perRefill = perRefill;
        _permits = limit;
    }

    /// <summary>Takes one permit; false, and nothing taken, when there is none.</summary>
    public bool TryTake()
    {
        var permits = Volatile.Read(ref _permits);
        while (permits > 0)
        {
            var seen = Interlocked.CompareExchange(ref _permits, permits - 1, permits);
            if (seen == permits)
            {
                return true;
            }

            permits = seen;
        }

        return false;
    }

    /// <summary>Puts back one refill's permits, up to the limit.</summary>
    public void Refill()
    {
        var permits = Volatile.Read(ref _permits);
        while (permits < _limit)
        {
            var seen = Interlocked.CompareExchange(ref _permits, (int)Math.Min(_limit, (long)permits + _perRefill), permits);
            if (seen == permits)
            {
                return;
            }

            permits = seen;
        }
    }
}
