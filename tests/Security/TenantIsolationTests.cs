using System.Net;
using System.Reflection;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.DependencyInjection;
using ShopAstro.Tests.Feed;
using ShopAstro.Tests.Infrastructure;
using Xunit.Abstractions;

namespace ShopAstro.Tests.Security;

/// <summary>The edge API over a fresh SQLite file, with store s2 seeded (policy, subjects, requests) for the isolation tests.</summary>
public sealed class IsolationFixture : IAsyncLifetime
{
    private readonly SqliteEdgeFixture _edge = new();

    public EdgeApiFactory Factory => _edge.Factory;

    public SecurityRoutes.SeededStore S2 { get; private set; } = null!;

    public HttpClient Admin { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        await _edge.InitializeAsync();
        Admin = Factory.ClientWith(EdgeApiFactory.AdminToken);
        S2 = await SecurityRoutes.SeedAsync(Admin, "s2");
    }

    public Task DisposeAsync() => _edge.DisposeAsync();
}

/// <summary>
/// A token of store s1 (its seller's and its storefront's) tries every store route on store s2, with well-formed
/// requests, and the live feed of s2: every attempt is a 403 problem, the hub refuses, and s2 is as it was.
/// Every <c>/v1/stores/{storeId}</c> route of the running app must have rows here: a new route without one fails
/// <see cref="Every_store_route_of_the_app_has_an_isolation_row_for_both_s1_tokens"/>.
/// </summary>
public sealed class TenantIsolationTests(IsolationFixture fixture, ITestOutputHelper output) : IClassFixture<IsolationFixture>
{
    private const string Victim = "s2";

    [Theory]
    [InlineData("SellerS1", "GET", "/v1/stores/{storeId}/subjects/{subjectId}/decisions")]
    [InlineData("StorefrontS1", "GET", "/v1/stores/{storeId}/subjects/{subjectId}/decisions")]
    [InlineData("SellerS1", "POST", "/v1/stores/{storeId}/decisions/batch")]
    [InlineData("StorefrontS1", "POST", "/v1/stores/{storeId}/decisions/batch")]
    [InlineData("SellerS1", "PUT", "/v1/stores/{storeId}/subjects/{subjectId}/consents")]
    [InlineData("StorefrontS1", "PUT", "/v1/stores/{storeId}/subjects/{subjectId}/consents")]
    [InlineData("SellerS1", "GET", "/v1/stores/{storeId}/subjects/{subjectId}")]
    [InlineData("StorefrontS1", "GET", "/v1/stores/{storeId}/subjects/{subjectId}")]
    [InlineData("SellerS1", "DELETE", "/v1/stores/{storeId}/subjects/{subjectId}")]
    [InlineData("StorefrontS1", "DELETE", "/v1/stores/{storeId}/subjects/{subjectId}")]
    [InlineData("SellerS1", "POST", "/v1/stores/{storeId}/subjects/{subjectId}/cancel")]
    [InlineData("StorefrontS1", "POST", "/v1/stores/{storeId}/subjects/{subjectId}/cancel")]
    [InlineData("SellerS1", "PUT", "/v1/stores/{storeId}/subjects/{subjectId}/age")]
    [InlineData("StorefrontS1", "PUT", "/v1/stores/{storeId}/subjects/{subjectId}/age")]
    [InlineData("SellerS1", "POST", "/v1/stores/{storeId}/subjects/{subjectId}/link")]
    [InlineData("StorefrontS1", "POST", "/v1/stores/{storeId}/subjects/{subjectId}/link")]
    [InlineData("SellerS1", "PUT", "/v1/stores/{storeId}/policy")]
    [InlineData("StorefrontS1", "PUT", "/v1/stores/{storeId}/policy")]
    [InlineData("SellerS1", "GET", "/v1/stores/{storeId}/policy")]
    [InlineData("StorefrontS1", "GET", "/v1/stores/{storeId}/policy")]
    [InlineData("SellerS1", "POST", "/v1/stores/{storeId}/policy/preview")]
    [InlineData("StorefrontS1", "POST", "/v1/stores/{storeId}/policy/preview")]
    [InlineData("SellerS1", "DELETE", "/v1/stores/{storeId}/policy/upcoming/{version:int}")]
    [InlineData("StorefrontS1", "DELETE", "/v1/stores/{storeId}/policy/upcoming/{version:int}")]
    [InlineData("SellerS1", "GET", "/v1/stores/{storeId}/stats")]
    [InlineData("StorefrontS1", "GET", "/v1/stores/{storeId}/stats")]
    [InlineData("SellerS1", "GET", "/v1/stores/{storeId}/stats/history")]
    [InlineData("StorefrontS1", "GET", "/v1/stores/{storeId}/stats/history")]
    [InlineData("SellerS1", "GET", "/v1/stores/{storeId}/aggregates")]
    [InlineData("StorefrontS1", "GET", "/v1/stores/{storeId}/aggregates")]
    [InlineData("SellerS1", "POST", "/v1/stores/{storeId}/requests")]
    [InlineData("StorefrontS1", "POST", "/v1/stores/{storeId}/requests")]
    [InlineData("SellerS1", "GET", "/v1/stores/{storeId}/requests")]
    [InlineData("StorefrontS1", "GET", "/v1/stores/{storeId}/requests")]
    [InlineData("SellerS1", "GET", "/v1/stores/{storeId}/requests/{requestId}")]
    [InlineData("StorefrontS1", "GET", "/v1/stores/{storeId}/requests/{requestId}")]
    [InlineData("SellerS1", "POST", "/v1/stores/{storeId}/requests/{requestId}/complete")]
    [InlineData("StorefrontS1", "POST", "/v1/stores/{storeId}/requests/{requestId}/complete")]
    [InlineData("SellerS1", "POST", "/v1/stores/{storeId}/requests/{requestId}/verify")]
    [InlineData("StorefrontS1", "POST", "/v1/stores/{storeId}/requests/{requestId}/verify")]
    [InlineData("SellerS1", "POST", "/v1/stores/{storeId}/requests/{requestId}/reject")]
    [InlineData("StorefrontS1", "POST", "/v1/stores/{storeId}/requests/{requestId}/reject")]
    [InlineData("SellerS1", "POST", "/v1/stores/{storeId}/downstream")]
    [InlineData("StorefrontS1", "POST", "/v1/stores/{storeId}/downstream")]
    [InlineData("SellerS1", "GET", "/v1/stores/{storeId}/downstream")]
    [InlineData("StorefrontS1", "GET", "/v1/stores/{storeId}/downstream")]
    [InlineData("SellerS1", "DELETE", "/v1/stores/{storeId}/downstream/{systemId}")]
    [InlineData("StorefrontS1", "DELETE", "/v1/stores/{storeId}/downstream/{systemId}")]
    [InlineData("SellerS1", "GET", "/v1/stores/{storeId}/propagation")]
    [InlineData("StorefrontS1", "GET", "/v1/stores/{storeId}/propagation")]
    public async Task A_store_s1_token_gets_403_problem_on_every_store_route_of_s2_and_s2_is_unchanged(string token, string method, string pattern)
    {
        var before = await SecurityRoutes.SnapshotAsync(fixture.Admin, fixture.S2);

        using var request = Request(method, pattern, Victim, fixture.S2.RequestIds[0], fixture.S2.SystemId);
        var described = $"{request.Method} {request.RequestUri}";
        using var response = await fixture.Factory.ClientWith(TokenOf(token)).SendAsync(request);

        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Forbidden, $"{token}: {described} answered {(int)response.StatusCode}: {body}");
        await response.ShouldBeProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        Assert.Equal(before, await SecurityRoutes.SnapshotAsync(fixture.Admin, fixture.S2));
    }

    [Fact]
    public async Task After_every_attempt_of_both_s1_tokens_and_the_stats_flush_s2_is_unchanged()
    {
        var before = await SecurityRoutes.SnapshotAsync(fixture.Admin, fixture.S2);
        var refused = 0;
        foreach (var (token, method, pattern) in Rows())
        {
            using var request = Request(method, pattern, Victim, fixture.S2.RequestIds[0], fixture.S2.SystemId);
            using var response = await fixture.Factory.ClientWith(TokenOf(token)).SendAsync(request);
            refused += response.StatusCode == HttpStatusCode.Forbidden ? 1 : 0;
        }

        // Checks and grants reach the store's stats about a second later.
        await Task.Delay(TimeSpan.FromSeconds(2.5));
        Assert.Equal(Rows().Count, refused);
        Assert.Equal(before, await SecurityRoutes.SnapshotAsync(fixture.Admin, fixture.S2));
    }

    [Fact]
    public async Task The_rows_requests_are_well_formed_an_admin_gets_2xx_for_each_on_another_store()
    {
        // So the 403s above come from the store scope, not from a malformed request.
        var seeded = await SecurityRoutes.SeedAsync(fixture.Admin, "iso-control");
        // The requester is verified before the (deletion) request is completed; what ends the subject's record comes
        // last: age (minor), then cancellation, then deletion.
        static int Rank((string Token, string Method, string Pattern) row) =>
            row.Pattern.EndsWith("/verify", StringComparison.Ordinal) ? -1
            : row.Pattern.EndsWith("/age", StringComparison.Ordinal) ? 1
            : row.Pattern.EndsWith("/cancel", StringComparison.Ordinal) ? 2
            : row.Method == "DELETE" && row.Pattern.Contains("/policy/upcoming/", StringComparison.Ordinal) ? 4
            : row.Method == "DELETE" ? 3
            : 0;
        var rows = Rows().Where(r => r.Token == "SellerS1").OrderBy(Rank).ThenBy(r => r.Pattern, StringComparer.Ordinal).ThenBy(r => r.Method, StringComparer.Ordinal);
        foreach (var (_, method, pattern) in rows)
        {
            // The seeded open deletion request is completed; another open one is rejected (a closed one cannot be).
            var requestId = pattern.EndsWith("/reject", StringComparison.Ordinal) ? seeded.RequestIds[2] : seeded.RequestIds[0];
            if (pattern.Contains("/policy/upcoming/", StringComparison.Ordinal))
            {
                // A version to withdraw: scheduled an hour ahead, above every version the rows published.
                using var scheduled = await fixture.Admin.PutAsync($"/v1/stores/{seeded.StoreId}/policy",
                    SecurityRoutes.Json(SecurityRoutes.ValidBody(BodyKind.ScheduledPolicy, SecurityRoutes.ScheduledVersion)));
                Assert.Equal(HttpStatusCode.Accepted, scheduled.StatusCode);
            }

            using var request = Request(method, pattern, seeded.StoreId, requestId, seeded.SystemId, policyVersion: 2);
            var described = $"{request.Method} {request.RequestUri}";
            using var response = await fixture.Admin.SendAsync(request);
            var status = (int)response.StatusCode;
            Assert.True(status is >= 200 and < 300, $"admin: {described} answered {status}: {await response.Content.ReadAsStringAsync()}");
        }
    }

    [Fact]
    public async Task The_hub_refuses_s2_to_both_s1_tokens_and_the_s1_seller_gets_nothing_of_s2()
    {
        var before = await SecurityRoutes.SnapshotAsync(fixture.Admin, fixture.S2);

        // The storefront token may not open the feed at all.
        await using (var storefront = FeedClient.InMemory(fixture.Factory.Server, EdgeApiFactory.StorefrontS1Token))
        {
            var refused = await Assert.ThrowsAnyAsync<Exception>(() => storefront.SubscribeAsync(Victim));
            output.WriteLine($"storefront-s1 Subscribe(\"s2\"): {refused.GetType().Name}: {refused.Message}");
            Assert.True(refused is HubException || (refused is HttpRequestException { StatusCode: HttpStatusCode.Forbidden or HttpStatusCode.Unauthorized }),
                $"Unexpected refusal: {refused}");
        }

        // The seller of s1 connects, has s1, and is refused s2.
        await using var seller = FeedClient.InMemory(fixture.Factory.Server, EdgeApiFactory.SellerS1Token);
        await seller.SubscribeAsync("s1");
        var error = await Assert.ThrowsAsync<HubException>(() => seller.SubscribeAsync(Victim));
        Assert.Contains("forbidden", error.Message, StringComparison.Ordinal);
        foreach (var variant in new[] { "S2", "s2 ", " s2", "s2\u0000", "*", "s1,s2", "s1/../s2" })
        {
            await Assert.ThrowsAsync<HubException>(() => seller.SubscribeAsync(variant));
        }

        Assert.Equal(before, await SecurityRoutes.SnapshotAsync(fixture.Admin, fixture.S2));

        // What happens in s2 does not reach the s1 connection.
        var subject = "hub-probe-" + Guid.NewGuid().ToString("N")[..8];
        await (await fixture.Admin.SetConsentAsync(Victim, subject, "analytics", true)).ShouldBeOkAsync();
        await (await fixture.Admin.SetConsentAsync(Victim, subject, "analytics", false)).ShouldBeOkAsync();
        Assert.Null(seller.TryNext(m => m.StoreId != "s1", TimeSpan.FromSeconds(2.5)));
        await SecurityRoutes.WaitForSettledStatsAsync(fixture.Admin, Victim);
    }

    [Fact]
    public void Every_store_route_of_the_app_has_an_isolation_row_for_both_s1_tokens()
    {
        var endpoints = fixture.Factory.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.RoutePattern.RawText?.StartsWith(StoreRoute.Prefix, StringComparison.OrdinalIgnoreCase) == true)
            .ToList();
        var mapped = endpoints
            .SelectMany(e => (e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? ["(any method)"]).Select(m => (Method: m, Pattern: e.RoutePattern.RawText!)))
            .ToHashSet();
        var rows = Rows();
        Assert.True(mapped.Count >= SecurityRoutes.All.Length, $"Only {mapped.Count} store routes found: {string.Join(", ", mapped)}");

        var missing = new List<string>();
        foreach (var (method, pattern) in mapped)
        {
            foreach (var token in new[] { "SellerS1", "StorefrontS1" })
            {
                if (!rows.Contains((token, method, pattern)))
                {
                    missing.Add($"[InlineData(\"{token}\", \"{method}\", \"{pattern}\")]");
                }
            }
        }

        var stale = rows.Where(r => !mapped.Contains((r.Method, r.Pattern))).Select(r => $"{r.Token} {r.Method} {r.Pattern}").ToList();
        Assert.True(missing.Count == 0, "Store routes without an isolation row:\n" + string.Join("\n", missing));
        Assert.True(stale.Count == 0, "Isolation rows for routes the app does not map:\n" + string.Join("\n", stale));

        // And each of them is behind a policy that checks the store scope.
        var unprotected = endpoints
            .Where(e => !e.Metadata.GetOrderedMetadata<IAuthorizeData>().Any(a => a.Policy is "storefront" or "seller" or "aggregates"))
            .Select(e => e.DisplayName ?? e.RoutePattern.RawText)
            .ToList();
        Assert.True(unprotected.Count == 0, "Store routes without the storefront or seller policy: " + string.Join(", ", unprotected));
    }

    /// <summary>The rows of the theory above, read from its attributes.</summary>
    private static HashSet<(string Token, string Method, string Pattern)> Rows() =>
        typeof(TenantIsolationTests).GetMethod(nameof(A_store_s1_token_gets_403_problem_on_every_store_route_of_s2_and_s2_is_unchanged))!
            .GetCustomAttributes<InlineDataAttribute>()
            .SelectMany(a => a.GetData(null!))
            .Select(d => ((string)d[0], (string)d[1], (string)d[2]))
            .ToHashSet();

    private static string TokenOf(string name) => name switch
    {
        "SellerS1" => EdgeApiFactory.SellerS1Token,
        "StorefrontS1" => EdgeApiFactory.StorefrontS1Token,
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, null),
    };

    /// <summary>A well-formed request for the route: the seeded subject u1, the seeded open request, a valid body.</summary>
    private static HttpRequestMessage Request(string method, string pattern, string store, string requestId, string systemId, int policyVersion = 2)
    {
        var route = SecurityRoutes.All.SingleOrDefault(r => r.Method == method && r.FullPattern == pattern)
            ?? throw new InvalidOperationException($"No request is defined for {method} {pattern}: add it to SecurityRoutes.All.");
        var path = StoreRoute.Fill(pattern, store, requestId, systemId);
        var query = route.Pattern switch
        {
            "/subjects/{subjectId}/decisions" => "?purpose=analytics&purpose=cart&explain=true",
            "/requests" when method == "GET" => "?status=open",
            _ => "",
        };
        var request = new HttpRequestMessage(new HttpMethod(method), path + query);
        if (route.Body != BodyKind.None)
        {
            // Consent under the published version 1; a policy one above the current one; a draft one above that.
            request.Content = SecurityRoutes.Json(SecurityRoutes.ValidBody(route.Body, route.Body switch
            {
                BodyKind.Policy => policyVersion,
                BodyKind.PolicyDraft => policyVersion + 1,
                _ => 1,
            }));
        }

        return request;
    }
}
