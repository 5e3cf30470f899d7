using System.Net;
using System.Text.Json.Nodes;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Propagation;

/// <summary>
/// Registering, listing and removing downstream systems through the HTTP contract: sellers and admins only, URLs and
/// secrets validated with problem codes, a secret never sent back; and the give-up horizon.
/// </summary>
public sealed class DownstreamRegistrationTests(SqlitePropagationFixture fixture) : IClassFixture<SqlitePropagationFixture>
{
    private readonly HttpClient _admin = fixture.Factory.ClientWith(EdgeApiFactory.AdminToken);

    [Fact]
    public async Task Systems_are_registered_listed_and_removed_and_a_secret_is_never_sent_back()
    {
        var seller = fixture.Factory.ClientWith(EdgeApiFactory.SellerS1Token);
        const string Secret = "a-secret-that-stays-put-42";
        using var created = await seller.PostAsync("/v1/stores/s1/downstream",
            ConsentApi.Json($$"""{"url":"https://crm.example.com/hooks/consent?x=1","secret":"{{Secret}}"}"""));
        await created.ShouldBeOkAsync(HttpStatusCode.Created);
        var createdBody = await created.Content.ReadAsStringAsync();
        var system = JsonNode.Parse(createdBody)!;
        var id = system["id"]!.GetValue<string>();
        Assert.Equal($"/v1/stores/s1/downstream/{id}", created.Headers.Location?.OriginalString);
        Assert.Equal("https://crm.example.com/hooks/consent?x=1", system["url"]!.GetValue<string>());
        Assert.DoesNotContain(Secret, createdBody, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", createdBody, StringComparison.OrdinalIgnoreCase);

        using var listed = await seller.GetAsync("/v1/stores/s1/downstream");
        await listed.ShouldBeOkAsync();
        var listBody = await listed.Content.ReadAsStringAsync();
        Assert.DoesNotContain(Secret, listBody, StringComparison.Ordinal);
        Assert.Contains(JsonNode.Parse(listBody)!["systems"]!.AsArray(), s => s!["id"]!.GetValue<string>() == id);
        using var propagation = await seller.GetAsync("/v1/stores/s1/propagation");
        Assert.DoesNotContain(Secret, await propagation.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        await (await seller.DeleteAsync($"/v1/stores/s1/downstream/{id}")).ShouldBeOkAsync(HttpStatusCode.NoContent);
        await (await seller.DeleteAsync($"/v1/stores/s1/downstream/{id}")).ShouldBeProblemAsync(HttpStatusCode.NotFound, "downstream_not_found");
        var after = await (await seller.GetAsync("/v1/stores/s1/downstream")).ReadJsonAsync();
        Assert.DoesNotContain(after["systems"]!.AsArray(), s => s!["id"]!.GetValue<string>() == id);
    }

    [Fact]
    public async Task The_openapi_document_describes_the_downstream_routes()
    {
        var paths = (await (await fixture.Factory.ClientWith(null).GetAsync("/openapi/v1.json")).ReadJsonAsync())["paths"]!;
        var downstream = paths["/v1/stores/{storeId}/downstream"]!;
        Assert.NotNull(downstream["post"]!["responses"]!["201"]);
        Assert.NotNull(downstream["post"]!["requestBody"]);
        Assert.NotNull(downstream["get"]!["responses"]!["200"]);
        Assert.NotNull(paths["/v1/stores/{storeId}/downstream/{systemId}"]!["delete"]!["responses"]!["204"]);
        Assert.NotNull(paths["/v1/stores/{storeId}/propagation"]!["get"]!["responses"]!["200"]);
    }

    [Theory]
    [InlineData("""{"url":"ftp://example.com/hook","secret":"0123456789abcdef"}""", "invalid_url")]
    [InlineData("""{"url":"/relative/hook","secret":"0123456789abcdef"}""", "invalid_url")]
    [InlineData("""{"url":"https://user:pass@example.com/hook","secret":"0123456789abcdef"}""", "invalid_url")]
    [InlineData("""{"secret":"0123456789abcdef"}""", "invalid_url")]
    [InlineData("""{"url":"https://example.com/hook","secret":"short"}""", "invalid_secret")]
    [InlineData("""{"url":"https://example.com/hook"}""", "invalid_secret")]
    [InlineData("""{"url":"https://example.com/hook","secret":42}""", "invalid_json")]
    public async Task Bad_registrations_are_400_with_a_code(string body, string code)
    {
        await (await _admin.PostAsync("/v1/stores/s1/downstream", ConsentApi.Json(body))).ShouldBeProblemAsync(HttpStatusCode.BadRequest, code);
    }

    [Fact]
    public async Task Storefronts_and_other_stores_sellers_may_not_touch_downstream_systems()
    {
        var storefront = fixture.Factory.ClientWith(EdgeApiFactory.StorefrontS1Token);
        var otherSeller = fixture.Factory.ClientWith(EdgeApiFactory.SellerS2Token);
        var body = """{"url":"https://example.com/hook","secret":"0123456789abcdef"}""";
        Assert.Equal(HttpStatusCode.Forbidden, (await storefront.PostAsync("/v1/stores/s1/downstream", ConsentApi.Json(body))).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await storefront.GetAsync("/v1/stores/s1/downstream")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await storefront.GetAsync("/v1/stores/s1/propagation")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await otherSeller.PostAsync("/v1/stores/s1/downstream", ConsentApi.Json(body))).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await otherSeller.GetAsync("/v1/stores/s1/propagation")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await fixture.Factory.ClientWith(null).GetAsync("/v1/stores/s1/downstream")).StatusCode);
    }

    [Fact]
    public async Task Webhooks_into_loopback_or_private_networks_are_refused_unless_allowed()
    {
        var settings = new Dictionary<string, string?>(PropagationFixture.FastDelivery) { ["Downstream:AllowPrivateNetworks"] = "false" };
        await using var database = TestDatabase.Sqlite();
        await using var factory = new EdgeApiFactory(database.ConnectionString, settings);
        var admin = factory.ClientWith(EdgeApiFactory.AdminToken);
        foreach (var url in new[] { "http://127.0.0.1:8080/hook", "http://[::1]/hook", "http://169.254.169.254/latest", "https://10.1.2.3/hook",
                     "http://192.168.0.10/hook", "http://[fd00::1]/hook", "http://[::ffff:127.0.0.1]/hook" })
        {
            var refused = await (await admin.PostAsync("/v1/stores/ssrf/downstream",
                ConsentApi.Json($$"""{"url":"{{url}}","secret":"0123456789abcdef"}"""))).ShouldBeProblemAsync(HttpStatusCode.BadRequest, "invalid_url");
            Assert.Contains("private", refused["detail"]!.GetValue<string>(), StringComparison.Ordinal);
        }

        // A name is checked where it resolves, at delivery: localhost reaches no receiver, and says why.
        await using var receiver = await WebhookReceiver.StartAsync();
        var byName = receiver.Url.Replace("127.0.0.1", "localhost", StringComparison.Ordinal);
        await (await admin.PublishPolicyAsync("ssrf", 1)).ShouldBeOkAsync();
        await (await admin.PostAsync("/v1/stores/ssrf/downstream",
            ConsentApi.Json($$"""{"url":"{{byName}}","secret":"{{receiver.Secret}}"}"""))).ShouldBeOkAsync(HttpStatusCode.Created);
        await (await admin.SetConsentAsync("ssrf", "u1", "analytics", false)).ShouldBeOkAsync();
        JsonNode system;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        do
        {
            await Task.Delay(100);
            system = (await (await admin.GetAsync("/v1/stores/ssrf/propagation")).ReadJsonAsync())["systems"]![0]!;
            Assert.True(DateTime.UtcNow < deadline, $"no refused attempt: {system}");
        }
        while (system["lastError"] is null);

        Assert.Contains("no public address", system["lastError"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(1, system["pending"]!.GetValue<long>());
        Assert.Equal(0, receiver.Attempts);
        Assert.Equal(0, receiver.BadSignatures);
    }

    [Fact]
    public async Task An_event_never_acknowledged_is_failed_after_the_give_up_horizon_and_stays_visible_without_its_subject()
    {
        var settings = new Dictionary<string, string?>(PropagationFixture.FastDelivery) { ["Downstream:GiveUpAfter"] = "00:00:03" };
        await using var database = TestDatabase.Sqlite();
        await using var factory = new EdgeApiFactory(database.ConnectionString, settings);
        var admin = factory.ClientWith(EdgeApiFactory.AdminToken);
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Answer = WebhookReceiver.Mode.Fail;
        await (await admin.PublishPolicyAsync("gone", 1)).ShouldBeOkAsync();
        using var registered = await admin.PostAsync("/v1/stores/gone/downstream",
            ConsentApi.Json($$"""{"url":"{{receiver.Url}}","secret":"{{receiver.Secret}}"}"""));
        await registered.ShouldBeOkAsync(HttpStatusCode.Created);
        await (await admin.SetConsentAsync("gone", "given-up-subject", "analytics", false)).ShouldBeOkAsync();

        JsonNode system;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        do
        {
            await Task.Delay(200);
            system = (await (await admin.GetAsync("/v1/stores/gone/propagation")).ReadJsonAsync())["systems"]![0]!;
            Assert.True(DateTime.UtcNow < deadline, $"never failed: {system}");
        }
        while (system["failed"]!.GetValue<long>() == 0);

        Assert.Equal(0, system["pending"]!.GetValue<long>());
        Assert.Equal(0, system["delivered"]!.GetValue<long>());
        Assert.True(receiver.Attempts >= 3, $"retried before giving up: {receiver.Attempts}");
        Assert.Empty(await database.QueryStringsAsync("SELECT EventId FROM DownstreamOutbox WHERE SubjectId IS NOT NULL OR Body IS NOT NULL"));
        Assert.Single(await database.QueryStringsAsync("SELECT EventId FROM DownstreamOutbox WHERE Status = 2 AND LastError = 'HTTP 503'"));
        var attempts = receiver.Attempts;
        await Task.Delay(1500);
        Assert.Equal(attempts, receiver.Attempts);
    }
}
