using System.Net;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Http;

/// <summary>
/// Who may call what: a missing or unknown token is a 401 with a Bearer challenge, a token for another store or a
/// role below the route's is a 403, and a refused write changes nothing.
/// </summary>
public sealed class AuthTests(SqliteEdgeFixture fixture) : IClassFixture<SqliteEdgeFixture>
{
    private readonly HttpClient _admin = fixture.Factory.ClientWith(EdgeApiFactory.AdminToken);

    [Theory]
    [InlineData("decisions")]
    [InlineData("batch")]
    [InlineData("consents")]
    [InlineData("subject")]
    [InlineData("policy-put")]
    [InlineData("policy-get")]
    public async Task No_authorization_header_is_401_with_a_bearer_challenge(string route)
    {
        var subject = await SeedAsync("s1");
        var before = await SnapshotAsync("s1", subject);

        using var request = await RequestAsync(route, "s1", subject);
        var response = await fixture.Factory.ClientWith(null).SendAsync(request);

        await ShouldBeUnauthorizedAsync(response);
        Assert.Equal(before, await SnapshotAsync("s1", subject));
    }

    [Theory]
    [InlineData("Bearer not-a-configured-token")]
    [InlineData("Bearer ")]
    [InlineData("Bearer")]
    [InlineData("Basic dGVzdDp0ZXN0")]
    [InlineData("Basic " + EdgeApiFactory.AdminToken)]
    [InlineData("Token " + EdgeApiFactory.AdminToken)]
    [InlineData(EdgeApiFactory.AdminToken)]
    [InlineData("Bearer " + EdgeApiFactory.AdminToken + "x")]
    [InlineData("Bearer test-admin-token-000")]
    [InlineData("Bearer TEST-ADMIN-TOKEN-0001")]
    [InlineData("BearerX " + EdgeApiFactory.AdminToken)]
    public async Task An_unknown_or_malformed_credential_is_401_on_every_route(string authorization)
    {
        var subject = await SeedAsync("s1");
        var before = await SnapshotAsync("s1", subject);
        var client = fixture.Factory.ClientWith(null);

        foreach (var route in AllRoutes)
        {
            using var request = await RequestAsync(route, "s1", subject);
            Assert.True(request.Headers.TryAddWithoutValidation("Authorization", authorization));
            var response = await client.SendAsync(request);
            await ShouldBeUnauthorizedAsync(response, route);
        }

        Assert.Equal(before, await SnapshotAsync("s1", subject));
    }

    [Theory]
    [InlineData(EdgeApiFactory.SellerS1Token, "s2", "decisions")]
    [InlineData(EdgeApiFactory.SellerS1Token, "s2", "batch")]
    [InlineData(EdgeApiFactory.SellerS1Token, "s2", "consents")]
    [InlineData(EdgeApiFactory.SellerS1Token, "s2", "subject")]
    [InlineData(EdgeApiFactory.SellerS1Token, "s2", "policy-put")]
    [InlineData(EdgeApiFactory.SellerS1Token, "s2", "policy-get")]
    [InlineData(EdgeApiFactory.StorefrontS1Token, "s2", "decisions")]
    [InlineData(EdgeApiFactory.StorefrontS1Token, "s2", "batch")]
    [InlineData(EdgeApiFactory.StorefrontS1Token, "s2", "consents")]
    [InlineData(EdgeApiFactory.StorefrontS1Token, "s2", "subject")]
    [InlineData(EdgeApiFactory.StorefrontS1Token, "s2", "policy-put")]
    [InlineData(EdgeApiFactory.StorefrontS1Token, "s2", "policy-get")]
    [InlineData(EdgeApiFactory.SellerS2Token, "s1", "decisions")]
    [InlineData(EdgeApiFactory.SellerS2Token, "s1", "batch")]
    [InlineData(EdgeApiFactory.SellerS2Token, "s1", "consents")]
    [InlineData(EdgeApiFactory.SellerS2Token, "s1", "subject")]
    [InlineData(EdgeApiFactory.SellerS2Token, "s1", "policy-put")]
    [InlineData(EdgeApiFactory.SellerS2Token, "s1", "policy-get")]
    public async Task A_token_for_one_store_is_403_on_another_and_changes_nothing(string token, string store, string route)
    {
        var subject = await SeedAsync(store);
        var before = await SnapshotAsync(store, subject);

        using var request = await RequestAsync(route, store, subject);
        var response = await fixture.Factory.ClientWith(token).SendAsync(request);

        await response.ShouldBeProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        Assert.Equal(before, await SnapshotAsync(store, subject));
    }

    [Theory]
    [InlineData("decisions")]
    [InlineData("batch")]
    [InlineData("consents")]
    [InlineData("policy-get")]
    public async Task Storefront_may_check_write_consent_and_read_the_policy_of_its_store(string route)
    {
        var subject = await SeedAsync("s1");

        using var request = await RequestAsync(route, "s1", subject);
        var response = await fixture.Factory.ClientWith(EdgeApiFactory.StorefrontS1Token).SendAsync(request);

        await response.ShouldBeOkAsync();
        if (route == "consents")
        {
            Assert.Equal((false, "withdrawn"), await _admin.DecideAsync("s1", subject, "analytics"));
        }
    }

    [Theory]
    [InlineData("subject")]
    [InlineData("policy-put")]
    public async Task Storefront_may_not_read_subject_records_or_publish_policies_even_for_its_store(string route)
    {
        var subject = await SeedAsync("s1");
        var before = await SnapshotAsync("s1", subject);

        using var request = await RequestAsync(route, "s1", subject);
        var response = await fixture.Factory.ClientWith(EdgeApiFactory.StorefrontS1Token).SendAsync(request);

        await response.ShouldBeProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        Assert.Equal(before, await SnapshotAsync("s1", subject));
    }

    [Theory]
    [InlineData("decisions")]
    [InlineData("batch")]
    [InlineData("consents")]
    [InlineData("subject")]
    [InlineData("policy-put")]
    [InlineData("policy-get")]
    public async Task Seller_may_use_every_route_of_its_store(string route)
    {
        var subject = await SeedAsync("s1");

        using var request = await RequestAsync(route, "s1", subject);
        var response = await fixture.Factory.ClientWith(EdgeApiFactory.SellerS1Token).SendAsync(request);

        await response.ShouldBeOkAsync();
    }

    [Theory]
    [InlineData("s1", "decisions")]
    [InlineData("s1", "subject")]
    [InlineData("s1", "policy-put")]
    [InlineData("s2", "batch")]
    [InlineData("s2", "consents")]
    [InlineData("s2", "subject")]
    [InlineData("s2", "policy-put")]
    [InlineData("s2", "policy-get")]
    [InlineData(null, "decisions")]
    [InlineData(null, "batch")]
    [InlineData(null, "consents")]
    [InlineData(null, "subject")]
    [InlineData(null, "policy-put")]
    [InlineData(null, "policy-get")]
    public async Task Admin_may_use_every_route_of_any_store(string? store, string route)
    {
        store ??= Unique("admin");
        var subject = await SeedAsync(store);

        using var request = await RequestAsync(route, store, subject);
        var response = await _admin.SendAsync(request);

        await response.ShouldBeOkAsync();
    }

    [Theory]
    [InlineData("/health/live")]
    [InlineData("/health/ready")]
    [InlineData("/openapi/v1.json")]
    [InlineData("/.well-known/gpc.json")]
    public async Task Operations_endpoints_need_no_token(string path)
    {
        await (await fixture.Factory.ClientWith(null).GetAsync(path)).ShouldBeOkAsync();
        // A probe holding a stale or foreign token is not turned away either.
        await (await fixture.Factory.ClientWith("not-a-configured-token").GetAsync(path)).ShouldBeOkAsync();
    }

    [Fact]
    public async Task Access_token_query_parameter_does_not_authenticate_v1_routes()
    {
        var subject = await SeedAsync("s1");
        var before = await SnapshotAsync("s1", subject);
        var anonymous = fixture.Factory.ClientWith(null);
        var token = Uri.EscapeDataString(EdgeApiFactory.AdminToken);

        var check = await anonymous.GetAsync($"/v1/stores/s1/subjects/{subject}/decisions?purpose=cart&access_token={token}");
        await ShouldBeUnauthorizedAsync(check);

        var write = await anonymous.PutAsync($"/v1/stores/s1/subjects/{subject}/consents?access_token={token}",
            ConsentApi.Json("""{"purposes":{"analytics":false},"policyVersion":1,"source":"api"}"""));
        await ShouldBeUnauthorizedAsync(write);

        var read = await anonymous.GetAsync($"/v1/stores/s1/subjects/{subject}?access_token={token}");
        await ShouldBeUnauthorizedAsync(read);

        Assert.Equal(before, await SnapshotAsync("s1", subject));
    }

    private static string[] AllRoutes => ["decisions", "batch", "consents", "subject", "policy-put", "policy-get"];

    private static async Task ShouldBeUnauthorizedAsync(HttpResponseMessage response, string? route = null)
    {
        await response.ShouldBeProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        Assert.True(
            response.Headers.WwwAuthenticate.Any(h => string.Equals(h.Scheme, "Bearer", StringComparison.OrdinalIgnoreCase)),
            $"{route}: WWW-Authenticate was '{response.Headers.WwwAuthenticate}'");
    }

    /// <summary>
    /// Ensures the store has a policy (publishing the next version, as other tests here publish too) and a new
    /// subject with a recorded analytics grant; returns that subject.
    /// </summary>
    private async Task<string> SeedAsync(string store)
    {
        await (await _admin.PublishPolicyAsync(store, await NextPolicyVersionAsync(store))).ShouldBeOkAsync();
        var subject = Unique("u");
        await (await _admin.SetConsentAsync(store, subject, "analytics", granted: true)).ShouldBeOkAsync();
        return subject;
    }

    private async Task<int> NextPolicyVersionAsync(string store)
    {
        var response = await _admin.GetAsync($"/v1/stores/{store}/policy");
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return 1;
        }

        await response.ShouldBeOkAsync();
        return (await response.ReadJsonAsync())["version"]!.GetValue<int>() + 1;
    }

    /// <summary>What an admin sees of the store's policy and the subject's record and decision.</summary>
    private async Task<string> SnapshotAsync(string store, string subject)
    {
        var policy = await _admin.GetAsync($"/v1/stores/{store}/policy");
        var record = await _admin.GetAsync($"/v1/stores/{store}/subjects/{subject}");
        var decision = await _admin.DecideAsync(store, subject, "analytics");
        return $"{(int)policy.StatusCode} {await policy.Content.ReadAsStringAsync()}\n"
            + $"{(int)record.StatusCode} {await record.Content.ReadAsStringAsync()}\n{decision}";
    }

    /// <summary>
    /// One call of the route that would succeed, and change something where it writes, for a token that may make it:
    /// the consent write withdraws the seeded grant, the policy write publishes the next version and suspends the store.
    /// </summary>
    private async Task<HttpRequestMessage> RequestAsync(string route, string store, string subject) => route switch
    {
        "decisions" => new(HttpMethod.Get, $"/v1/stores/{store}/subjects/{subject}/decisions?purpose=cart&purpose=analytics"),
        "batch" => new(HttpMethod.Post, $"/v1/stores/{store}/decisions/batch")
        {
            Content = ConsentApi.Json($$"""{"items":[{"subjectId":"{{subject}}","purpose":"analytics"}]}"""),
        },
        "consents" => new(HttpMethod.Put, $"/v1/stores/{store}/subjects/{subject}/consents")
        {
            Content = ConsentApi.Json("""{"purposes":{"analytics":false},"policyVersion":1,"source":"api"}"""),
        },
        "subject" => new(HttpMethod.Get, $"/v1/stores/{store}/subjects/{subject}"),
        "policy-put" => new(HttpMethod.Put, $"/v1/stores/{store}/policy")
        {
            Content = ConsentApi.Json(
                "{\"version\":" + await NextPolicyVersionAsync(store)
                + ""","status":"suspended","sellerAttestation":true,"purposes":{"analytics":{"enabled":true,"materialChange":true}}}"""),
        },
        "policy-get" => new(HttpMethod.Get, $"/v1/stores/{store}/policy"),
        _ => throw new ArgumentOutOfRangeException(nameof(route), route, null),
    };

    private static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..24];
}
