using System.Net;
using System.Text.Json.Nodes;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Http;

/// <summary>The contract's happy paths and documented answers, over HTTP, on the embedded default.</summary>
public sealed class ContractTests(SqliteEdgeFixture fixture) : IClassFixture<SqliteEdgeFixture>
{
    private readonly HttpClient _admin = fixture.Factory.ClientWith(EdgeApiFactory.AdminToken);

    [Fact]
    public async Task Walkthrough_publish_grant_check_withdraw_check()
    {
        var store = Unique("walk");
        await (await _admin.PublishPolicyAsync(store, 3)).ShouldBeOkAsync();

        Assert.Equal((false, "no_consent"), await _admin.DecideAsync(store, "u1", "analytics"));
        await (await _admin.SetConsentAsync(store, "u1", "analytics", granted: true, policyVersion: 3)).ShouldBeOkAsync();
        Assert.Equal((true, "granted"), await _admin.DecideAsync(store, "u1", "analytics"));
        await (await _admin.SetConsentAsync(store, "u1", "analytics", granted: false, policyVersion: 3)).ShouldBeOkAsync();
        Assert.Equal((false, "withdrawn"), await _admin.DecideAsync(store, "u1", "analytics"));
    }

    [Fact]
    public async Task Decisions_answer_every_purpose_in_order_with_the_policy_version()
    {
        var store = Unique("order");
        await (await _admin.PublishPolicyAsync(store, 2)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "u1", "analytics", true, policyVersion: 2)).ShouldBeOkAsync();

        var response = await _admin.GetAsync($"/v1/stores/{store}/subjects/u1/decisions?purpose=analytics&purpose=cart&purpose=necessary&purpose=advertising");
        await response.ShouldBeOkAsync();
        var body = await response.ReadJsonAsync();
        Assert.Equal(store, body["storeId"]!.GetValue<string>());
        Assert.Equal("u1", body["subjectId"]!.GetValue<string>());
        Assert.Equal(2, body["policyVersion"]!.GetValue<int>());
        var decisions = body["decisions"]!.AsArray().Select(d => (d!["purpose"]!.GetValue<string>(), d["allowed"]!.GetValue<bool>(), d["reason"]!.GetValue<string>()));
        Assert.Equal(
            [("analytics", true, "granted"), ("cart", true, "contract"), ("necessary", true, "necessary"), ("advertising", false, "purpose_disabled")],
            decisions);
    }

    [Fact]
    public async Task Unknown_store_denies_everything_but_necessary()
    {
        var store = Unique("nopolicy");
        Assert.Equal((true, "necessary"), await _admin.DecideAsync(store, "u1", "necessary"));
        Assert.Equal((false, "store_unknown"), await _admin.DecideAsync(store, "u1", "cart"));
        Assert.Equal((false, "store_unknown"), await _admin.DecideAsync(store, "u1", "analytics"));
    }

    [Fact]
    public async Task Signals_count_only_for_the_exact_value_1()
    {
        var store = Unique("signals");
        await (await _admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "u1", "analytics", true)).ShouldBeOkAsync();

        foreach (var (header, value, expected) in new[]
        {
            ("DNT", "1", "do_not_track"), ("DNT", "0", "granted"), ("DNT", "yes", "granted"), ("DNT", " 1x", "granted"),
            ("Sec-GPC", "1", "global_privacy_control"), ("Sec-GPC", "0", "granted"), ("Sec-GPC", "true", "granted"),
        })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"/v1/stores/{store}/subjects/u1/decisions?purpose=analytics");
            request.Headers.TryAddWithoutValidation(header, value);
            var body = await (await _admin.SendAsync(request)).ReadJsonAsync();
            Assert.True(expected == body["decisions"]![0]!["reason"]!.GetValue<string>(), $"{header}: {value}");
        }
    }

    [Fact]
    public async Task A_grant_given_under_a_signal_survives_that_signal_and_records_it()
    {
        var store = Unique("specific");
        await (await _admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        var write = await _admin.SetConsentAsync(store, "u1", "analytics", true, dnt: true);
        await write.ShouldBeOkAsync();
        var record = await write.ReadJsonAsync();
        Assert.True(record["consents"]!["analytics"]!["dnt"]!.GetValue<bool>());
        Assert.True(record["receipts"]![0]!["dnt"]!.GetValue<bool>());

        Assert.Equal((true, "granted"), await _admin.DecideAsync(store, "u1", "analytics", dnt: true));
        Assert.Equal((false, "global_privacy_control"), await _admin.DecideAsync(store, "u1", "analytics", dnt: true, gpc: true));
    }

    [Fact]
    public async Task Subject_record_holds_latest_choices_and_every_receipt()
    {
        var store = Unique("record");
        await (await _admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "u1", "analytics", true, source: "banner")).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "u1", "analytics", false, source: "account_settings")).ShouldBeOkAsync();

        var response = await _admin.GetAsync($"/v1/stores/{store}/subjects/u1");
        await response.ShouldBeOkAsync();
        var record = await response.ReadJsonAsync();
        Assert.Equal("active", record["status"]!.GetValue<string>());
        var analytics = record["consents"]!["analytics"]!;
        Assert.False(analytics["granted"]!.GetValue<bool>());
        Assert.Equal("account_settings", analytics["source"]!.GetValue<string>());
        Assert.EndsWith("Z", analytics["at"]!.GetValue<string>());
        var receipts = record["receipts"]!.AsArray();
        Assert.Equal(2, receipts.Count);
        Assert.Equal([true, false], receipts.Select(r => r!["granted"]!.GetValue<bool>()));
        Assert.All(receipts, r => Assert.False(string.IsNullOrEmpty(r!["receiptId"]!.GetValue<string>())));
        Assert.NotEqual(receipts[0]!["receiptId"]!.GetValue<string>(), receipts[1]!["receiptId"]!.GetValue<string>());
    }

    [Fact]
    public async Task Subject_never_written_is_404()
    {
        var response = await _admin.GetAsync($"/v1/stores/{Unique("none")}/subjects/nobody");
        await response.ShouldBeProblemAsync(HttpStatusCode.NotFound, "subject_not_found");
    }

    [Fact]
    public async Task Policy_versions_must_increase_and_attestation_gates_recommendation_and_advertising()
    {
        var store = Unique("policy");
        await (await _admin.GetAsync($"/v1/stores/{store}/policy")).ShouldBeProblemAsync(HttpStatusCode.NotFound, "policy_not_found");
        await (await _admin.PublishPolicyAsync(store, 3)).ShouldBeOkAsync();
        await (await _admin.PublishPolicyAsync(store, 3)).ShouldBeProblemAsync(HttpStatusCode.Conflict, "policy_version_conflict");
        await (await _admin.PublishPolicyAsync(store, 2)).ShouldBeProblemAsync(HttpStatusCode.Conflict, "policy_version_conflict");
        await (await _admin.PublishPolicyAsync(store, 4, """{"advertising":{"enabled":true,"materialChange":false}}""", attestation: false))
            .ShouldBeProblemAsync(HttpStatusCode.UnprocessableEntity, "seller_attestation_required");
        // Disabled purposes need no attestation.
        await (await _admin.PublishPolicyAsync(store, 4, """{"analytics":{"enabled":true,"materialChange":false},"advertising":{"enabled":false,"materialChange":false}}""", attestation: false))
            .ShouldBeOkAsync();

        var policy = await (await _admin.GetAsync($"/v1/stores/{store}/policy")).ReadJsonAsync();
        Assert.Equal(4, policy["version"]!.GetValue<int>());
        Assert.Equal("active", policy["status"]!.GetValue<string>());
        Assert.False(policy["sellerAttestation"]!.GetValue<bool>());
        Assert.True(policy["purposes"]!["analytics"]!["enabled"]!.GetValue<bool>());
        Assert.False(policy["purposes"]!["advertising"]!["enabled"]!.GetValue<bool>());
    }

    [Fact]
    public async Task Consent_policy_version_ahead_of_the_store_or_before_any_policy_is_422()
    {
        var store = Unique("ahead");
        await (await _admin.SetConsentAsync(store, "u1", "analytics", true, policyVersion: 1))
            .ShouldBeProblemAsync(HttpStatusCode.UnprocessableEntity);
        await (await _admin.PublishPolicyAsync(store, 3)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "u1", "analytics", true, policyVersion: 4))
            .ShouldBeProblemAsync(HttpStatusCode.UnprocessableEntity, "policy_version_ahead");
        await (await _admin.GetAsync($"/v1/stores/{store}/subjects/u1")).ShouldBeProblemAsync(HttpStatusCode.NotFound);
        // An older version is a valid (if soon outdated) basis.
        await (await _admin.SetConsentAsync(store, "u1", "analytics", true, policyVersion: 2)).ShouldBeOkAsync();
    }

    [Fact]
    public async Task A_policy_change_reaches_the_next_check_of_an_active_subject()
    {
        var store = Unique("propagate");
        await (await _admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "u1", "recommendation", true)).ShouldBeOkAsync();
        Assert.Equal((true, "granted"), await _admin.DecideAsync(store, "u1", "recommendation"));

        await (await _admin.PublishPolicyAsync(store, 2, """{"recommendation":{"enabled":true,"materialChange":true}}""")).ShouldBeOkAsync();
        Assert.Equal((false, "reconsent_required"), await _admin.DecideAsync(store, "u1", "recommendation"));

        await (await _admin.PublishPolicyAsync(store, 3, """{"recommendation":{"enabled":false,"materialChange":false}}""")).ShouldBeOkAsync();
        Assert.Equal((false, "purpose_disabled"), await _admin.DecideAsync(store, "u1", "recommendation"));

        await (await _admin.PublishPolicyAsync(store, 4, """{"recommendation":{"enabled":true,"materialChange":false}}""", status: "suspended")).ShouldBeOkAsync();
        Assert.Equal((false, "store_suspended"), await _admin.DecideAsync(store, "u1", "cart"));

        await (await _admin.PublishPolicyAsync(store, 5, """{"recommendation":{"enabled":true,"materialChange":false}}""")).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "u1", "recommendation", true, policyVersion: 5)).ShouldBeOkAsync();
        Assert.Equal((true, "granted"), await _admin.DecideAsync(store, "u1", "recommendation"));
    }

    [Fact]
    public async Task Batch_answers_in_item_order_with_the_body_signals_and_ignores_headers()
    {
        var store = Unique("batch");
        await (await _admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "u1", "recommendation", true)).ShouldBeOkAsync();
        await (await _admin.SetConsentAsync(store, "u3", "recommendation", true, gpc: true)).ShouldBeOkAsync();

        using var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/stores/{store}/decisions/batch")
        {
            Content = ConsentApi.Json("""
                {"items":[{"subjectId":"u1","purpose":"recommendation"},{"subjectId":"u2","purpose":"recommendation"},
                          {"subjectId":"u1","purpose":"cart"},{"subjectId":"u3","purpose":"recommendation"}],
                 "signals":{"dnt":false,"gpc":true}}
                """),
        };
        request.Headers.Add("DNT", "1");
        var response = await _admin.SendAsync(request);
        await response.ShouldBeOkAsync();
        var results = (await response.ReadJsonAsync())["results"]!.AsArray()
            .Select(r => (r!["subjectId"]!.GetValue<string>(), r["purpose"]!.GetValue<string>(), r["allowed"]!.GetValue<bool>(), r["reason"]!.GetValue<string>()));
        Assert.Equal(
            [("u1", "recommendation", false, "global_privacy_control"), ("u2", "recommendation", false, "no_consent"),
             ("u1", "cart", true, "contract"), ("u3", "recommendation", true, "granted")],
            results);
    }

    [Fact]
    public async Task Batch_of_10000_is_answered_and_10001_is_400()
    {
        var store = Unique("big");
        await (await _admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        var ok = await _admin.PostAsync($"/v1/stores/{store}/decisions/batch", ConsentApi.Json(BatchOf(10_000)));
        await ok.ShouldBeOkAsync();
        var results = (await ok.ReadJsonAsync())["results"]!.AsArray();
        Assert.Equal(10_000, results.Count);
        Assert.Equal("u9999", results[9999]!["subjectId"]!.GetValue<string>());

        var tooMany = await _admin.PostAsync($"/v1/stores/{store}/decisions/batch", ConsentApi.Json(BatchOf(10_001)));
        await tooMany.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "batch_too_large");
    }

    [Fact]
    public async Task Operations_endpoints_need_no_token()
    {
        var anonymous = fixture.Factory.ClientWith(null);
        await (await anonymous.GetAsync("/health/live")).ShouldBeOkAsync();
        await (await anonymous.GetAsync("/health/ready")).ShouldBeOkAsync();
        var openapi = await (await anonymous.GetAsync("/openapi/v1.json")).ReadJsonAsync();
        Assert.NotNull(openapi["paths"]!["/v1/stores/{storeId}/subjects/{subjectId}/decisions"]);
        var gpc = await (await anonymous.GetAsync("/.well-known/gpc.json")).ReadJsonAsync();
        Assert.True(gpc["gpc"]!.GetValue<bool>());
        Assert.Matches(@"^\d{4}-\d{2}-\d{2}$", gpc["lastUpdate"]!.GetValue<string>());
    }

    private static string BatchOf(int count) =>
        new JsonObject
        {
            ["items"] = new JsonArray(Enumerable.Range(0, count)
                .Select(i => (JsonNode)new JsonObject { ["subjectId"] = $"u{i}", ["purpose"] = "recommendation" }).ToArray()),
        }.ToJsonString();

    private static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..24];
}
