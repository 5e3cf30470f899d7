using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace ShopAstro.Tests.Infrastructure;

/// <summary>
/// The edge API on the embedded default (one co-hosted silo) over a given consent store, with test
/// tokens: an admin, a seller and a storefront of store s1, and a seller of store s2.
/// </summary>
public sealed class EdgeApiFactory(
    string consentConnectionString, IReadOnlyDictionary<string, string?>? settings = null, Action<IServiceCollection>? services = null)
    : WebApplicationFactory<Program>
{
    public const string AdminToken = "test-admin-token-0001";
    public const string SellerS1Token = "test-seller-s1-token";
    public const string StorefrontS1Token = "test-storefront-s1-token";
    public const string SellerS2Token = "test-seller-s2-token";

    /// <summary>The HMAC key of erased subjects' tokens in tests (32 bytes of 0x2A).</summary>
    public static readonly string AnonymisationKey = Convert.ToBase64String(Enumerable.Repeat((byte)42, 32).ToArray());

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseSetting("ConnectionStrings:Consent", consentConnectionString);
        builder.UseSetting("Orleans:SiloPort", FreePort().ToString());
        builder.UseSetting("Orleans:GatewayPort", FreePort().ToString());
        // Short leases keep the wait after a store grain's re-activation (see StoreGrain) short in tests.
        builder.UseSetting("Consent:PolicyLease", "00:00:03");
        builder.UseSetting("Consent:AnonymisationKey", AnonymisationKey);
        // Most tests publish material changes to see their effect at once; the notice period (§7, 7 days by default)
        // is PolicyScheduleTests' subject, with periods of its own.
        builder.UseSetting("Policy:MaterialNoticePeriod", "00:00:00");
        // In process, a test's checkers answered by the check's fast path can send one token more than the default
        // 100,000 requests per second (and its burst): limits are RateLimitTests' subject, with limits of its own.
        builder.UseSetting("RateLimits:PermitsPerSecond", "10000000");
        builder.UseSetting("RateLimits:Burst", "10000000");
        builder.UseSetting("Auth:Tokens:0:Token", AdminToken);
        builder.UseSetting("Auth:Tokens:0:Role", "admin");
        builder.UseSetting("Auth:Tokens:1:Token", SellerS1Token);
        builder.UseSetting("Auth:Tokens:1:Role", "seller");
        builder.UseSetting("Auth:Tokens:1:Stores:0", "s1");
        builder.UseSetting("Auth:Tokens:2:Token", StorefrontS1Token);
        builder.UseSetting("Auth:Tokens:2:Role", "storefront");
        builder.UseSetting("Auth:Tokens:2:Stores:0", "s1");
        builder.UseSetting("Auth:Tokens:3:Token", SellerS2Token);
        builder.UseSetting("Auth:Tokens:3:Role", "seller");
        builder.UseSetting("Auth:Tokens:3:Stores:0", "s2");
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            builder.UseSetting(key, value);
        }

        if (services is not null)
        {
            builder.ConfigureTestServices(services);
        }
    }

    public HttpClient ClientWith(string? token)
    {
        var client = CreateClient();
        if (token is not null)
        {
            client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        }

        return client;
    }

    /// <summary>
    /// The edge's decision cache once it answers checks: it does only once this edge is registered as a lease holder,
    /// at start-up.
    /// </summary>
    public async Task<ShopAstro.EdgeApi.Decisions.DecisionCache> RegisteredDecisionCacheAsync()
    {
        var cache = Services.GetRequiredService<ShopAstro.EdgeApi.Decisions.DecisionCache>();
        var until = DateTime.UtcNow.AddSeconds(20);
        while (!cache.Active)
        {
            if (DateTime.UtcNow >= until)
            {
                throw new TimeoutException("The decision cache was not registered as a lease holder within 20 s.");
            }

            await Task.Delay(50);
        }

        return cache;
    }

    /// <summary>A port for a server a test starts (<see cref="TestPorts"/>).</summary>
    public static int FreePort() => TestPorts.Next();
}
