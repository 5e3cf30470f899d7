using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Http;

/// <summary>
/// <c>POST .../policy/preview</c>: how many subjects with a record a draft would send back for re-consent, per
/// purpose, read from the consent store without activating their grains, and nothing published.
/// </summary>
public sealed class PolicyPreviewTests
{
    private const string Both = """{"analytics":{"enabled":true,"materialChange":false},"recommendation":{"enabled":true,"materialChange":false}}""";

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task A_preview_counts_the_grants_a_draft_makes_stale_without_activating_a_subject_or_publishing(string store)
    {
        await using var database = store == "sqlite" ? TestDatabase.Sqlite() : await TestDatabase.PostgresAsync();
        await using (var first = new EdgeApiFactory(database.ConnectionString))
        {
            var admin = first.ClientWith(EdgeApiFactory.AdminToken);
            await (await admin.PublishPolicyAsync("s1", 1, Both)).ShouldBeOkAsync();
            for (var i = 0; i < 12; i++)
            {
                await (await admin.SetConsentAsync("s1", $"granted-{i}", "analytics", true)).ShouldBeOkAsync();
            }

            for (var i = 0; i < 3; i++)
            {
                await (await admin.SetConsentAsync("s1", $"withdrawn-{i}", "analytics", false)).ShouldBeOkAsync();
            }

            for (var i = 0; i < 4; i++)
            {
                await (await admin.SetConsentAsync("s1", $"reco-{i}", "recommendation", true)).ShouldBeOkAsync();
            }

            // Neither a minor, nor a cancelled account, nor an erased one is asked to consent again.
            await (await admin.SetConsentAsync("s1", "minor", "analytics", true)).ShouldBeOkAsync();
            await (await admin.PutAsync("/v1/stores/s1/subjects/minor/age", ConsentApi.Json("""{"minor":true}"""))).ShouldBeOkAsync(HttpStatusCode.NoContent);
            await (await admin.SetConsentAsync("s1", "cancelled", "analytics", true)).ShouldBeOkAsync();
            await (await admin.PostAsync("/v1/stores/s1/subjects/cancelled/cancel", null)).ShouldBeOkAsync(HttpStatusCode.NoContent);
            await (await admin.SetConsentAsync("s1", "erased", "analytics", true)).ShouldBeOkAsync();
            await (await admin.DeleteAsync("/v1/stores/s1/subjects/erased")).ShouldBeOkAsync(HttpStatusCode.NoContent);
            // Another store's subjects are not counted.
            await (await admin.PublishPolicyAsync("s10", 1, Both)).ShouldBeOkAsync();
            await (await admin.SetConsentAsync("s10", "granted-0", "analytics", true)).ShouldBeOkAsync();
        }

        await using var factory = new EdgeApiFactory(database.ConnectionString);
        var seller = factory.ClientWith(EdgeApiFactory.SellerS1Token);
        var draft = """{"analytics":{"enabled":true,"materialChange":true},"recommendation":{"enabled":false,"materialChange":false}}""";
        using var response = await seller.PostAsync("/v1/stores/s1/policy/preview", Policy(2, draft));
        await response.ShouldBeOkAsync();
        var preview = await response.ReadJsonAsync();
        Assert.Equal("s1", preview["storeId"]!.GetValue<string>());
        Assert.Equal(1, preview["currentVersion"]!.GetValue<int>());
        Assert.Equal(2, preview["draft"]!["version"]!.GetValue<int>());
        Assert.Equal(22, preview["subjectsWithRecord"]!.GetValue<long>());
        AssertImpact(preview, "analytics", needReconsent: 12, newly: 12, loseGrant: 0);
        AssertImpact(preview, "recommendation", needReconsent: 0, newly: 0, loseGrant: 4);
        AssertImpact(preview, "advertising", 0, 0, 0);
        Assert.True(preview["durationMs"]!.GetValue<double>() >= 0);

        // Read from the store, not from grains: not one subject was activated, and nothing was published.
        var management = factory.Services.GetRequiredService<IGrainFactory>().GetGrain<IManagementGrain>(0);
        var statistics = await management.GetSimpleGrainStatistics();
        Assert.DoesNotContain(statistics, s => s.GrainType.Contains("SubjectGrain", StringComparison.Ordinal) && s.ActivationCount > 0);
        Assert.Equal(1, (await (await seller.GetAsync("/v1/stores/s1/policy")).ReadJsonAsync())["version"]!.GetValue<int>());
        Assert.Equal((true, "granted"), await seller.DecideAsync("s1", "granted-0", "analytics"));

        // Once the change is in force, grants given since do not count, and those already stale are not new.
        await (await seller.PutAsync("/v1/stores/s1/policy", Policy(2, draft))).ShouldBeOkAsync();
        await (await seller.SetConsentAsync("s1", "granted-0", "analytics", true, policyVersion: 2)).ShouldBeOkAsync();
        var again = await (await seller.PostAsync("/v1/stores/s1/policy/preview", Policy(3, draft))).ReadJsonAsync();
        AssertImpact(again, "analytics", needReconsent: 12, newly: 1, loseGrant: 0);
    }

    [Fact]
    public async Task A_preview_is_for_sellers_and_refuses_what_a_publish_would_refuse()
    {
        await using var database = TestDatabase.Sqlite();
        await using var factory = new EdgeApiFactory(database.ConnectionString);
        var admin = factory.ClientWith(EdgeApiFactory.AdminToken);
        await (await admin.PublishPolicyAsync("s1", 3, Both)).ShouldBeOkAsync();

        var storefront = factory.ClientWith(EdgeApiFactory.StorefrontS1Token);
        await (await storefront.PostAsync("/v1/stores/s1/policy/preview", Policy(4, Both))).ShouldBeProblemAsync(HttpStatusCode.Forbidden);
        var otherSeller = factory.ClientWith(EdgeApiFactory.SellerS2Token);
        await (await otherSeller.PostAsync("/v1/stores/s1/policy/preview", Policy(4, Both))).ShouldBeProblemAsync(HttpStatusCode.Forbidden);
        await (await admin.PostAsync("/v1/stores/s1/policy/preview", Policy(3, Both)))
            .ShouldBeProblemAsync(HttpStatusCode.Conflict, "policy_version_conflict");
        await (await admin.PostAsync("/v1/stores/s1/policy/preview", Policy(4, Both, attestation: false)))
            .ShouldBeProblemAsync(HttpStatusCode.UnprocessableEntity, "seller_attestation_required");
        await (await admin.PostAsync("/v1/stores/s1/policy/preview", ConsentApi.Json("""{"version":4,"purposes":{"tracking":{"enabled":true}}}""")))
            .ShouldBeProblemAsync(HttpStatusCode.BadRequest, "unknown_purpose");
        await (await admin.PostAsync("/v1/stores/s1/policy/preview", ConsentApi.Json("""{"version":4,"effectiveAt":"tomorrow","purposes":{}}""")))
            .ShouldBeProblemAsync(HttpStatusCode.BadRequest, "invalid_effective_at");

        // A store without subjects, or without a policy, previews to zeros.
        var empty = await (await admin.PostAsync("/v1/stores/fresh/policy/preview", Policy(1, Both))).ReadJsonAsync();
        Assert.Null(empty["currentVersion"]);
        Assert.Equal(0, empty["subjectsWithRecord"]!.GetValue<long>());
    }

    private static StringContent Policy(int version, string purposes, bool attestation = true) =>
        ConsentApi.Json($$"""{"version":{{version}},"status":"active","sellerAttestation":{{(attestation ? "true" : "false")}},"purposes":{{purposes}}}""");

    private static void AssertImpact(JsonNode preview, string purpose, long needReconsent, long newly, long loseGrant)
    {
        var impact = preview["purposes"]![purpose]!;
        Assert.Equal((needReconsent, newly, loseGrant), (
            impact["needReconsent"]!.GetValue<long>(), impact["newlyNeedReconsent"]!.GetValue<long>(), impact["loseGrant"]!.GetValue<long>()));
    }
}
