using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using ShopAstro.Tests.Feed;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Http;

/// <summary>
/// Policy versions with notice (§7): a material change is published ahead, announced, listed as upcoming, and takes
/// effect at its instant: no check that starts after it answers from the version before, none before it from the
/// new one, on the embedded default (SQLite) and on PostgreSQL.
/// </summary>
public sealed class PolicyScheduleTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Notice of 6 s; the policy lease (the least lead of any scheduled version) is the factory's 3 s. Versions are
    /// scheduled 9 s ahead: a publish may take seconds on a busy machine.
    /// </summary>
    private static readonly Dictionary<string, string?> Settings = new()
    {
        ["Policy:MaterialNoticePeriod"] = "00:00:06",
        ["Policy:EffectiveRetry"] = "00:00:02",
    };

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task A_material_change_needs_notice_is_announced_and_takes_effect_at_its_instant(string store)
    {
        await using var database = store == "sqlite" ? TestDatabase.Sqlite() : await TestDatabase.PostgresAsync();
        await using var factory = new EdgeApiFactory(database.ConnectionString, Settings);
        var admin = factory.ClientWith(EdgeApiFactory.AdminToken);
        await (await admin.PublishPolicyAsync("s1", 1)).ShouldBeOkAsync();
        await (await admin.SetConsentAsync("s1", "u1", "analytics", true)).ShouldBeOkAsync();

        var material = """{"analytics":{"enabled":true,"materialChange":true},"recommendation":{"enabled":true,"materialChange":false}}""";
        await (await admin.PutAsync("/v1/stores/s1/policy", Policy(2, material, effectiveAt: null)))
            .ShouldBeProblemAsync(HttpStatusCode.UnprocessableEntity, "notice_period_required");
        await (await admin.PutAsync("/v1/stores/s1/policy", Policy(2, material, DateTimeOffset.UtcNow.AddSeconds(3))))
            .ShouldBeProblemAsync(HttpStatusCode.UnprocessableEntity, "notice_period_required");

        await using var feed = FeedClient.InMemory(factory.Server, EdgeApiFactory.SellerS1Token);
        await feed.SubscribeAsync("s1");
        var effectiveAt = InWholeMilliseconds(DateTimeOffset.UtcNow).AddSeconds(9);
        using var scheduled = await admin.PutAsync("/v1/stores/s1/policy", Policy(2, material, effectiveAt));
        await scheduled.ShouldBeOkAsync(HttpStatusCode.Accepted);
        Assert.Equal("/v1/stores/s1/policy", scheduled.Headers.Location?.OriginalString);
        var accepted = await scheduled.ReadJsonAsync();
        Assert.Equal(2, accepted["version"]!.GetValue<int>());
        Assert.Equal(effectiveAt.UtcDateTime, At(accepted["effectiveAt"]!), TimeSpan.FromMilliseconds(1));

        var announced = feed.Next(m => m.Type == "policyScheduled", Wait);
        Assert.Equal(2, announced.Payload.GetProperty("policyVersion").GetInt32());
        Assert.False(announced.Payload.GetProperty("cancelled").GetBoolean());
        Assert.Equal(effectiveAt.UtcDateTime, announced.Payload.GetProperty("effectiveAt").GetDateTime().ToUniversalTime(), TimeSpan.FromMilliseconds(1));

        var before = await (await admin.GetAsync("/v1/stores/s1/policy")).ReadJsonAsync();
        Assert.Equal(1, before["version"]!.GetValue<int>());
        var upcoming = Assert.Single(before["upcoming"]!.AsArray());
        Assert.Equal(2, upcoming!["version"]!.GetValue<int>());
        Assert.True(upcoming["purposes"]!["analytics"]!["materialChange"]!.GetValue<bool>());
        // Consent to a version not yet in force is consent to a text nobody can be shown as current.
        await (await admin.SetConsentAsync("s1", "u2", "analytics", true, policyVersion: 2))
            .ShouldBeProblemAsync(HttpStatusCode.UnprocessableEntity);

        var checks = await CheckAcrossAsync(factory, effectiveAt, "u1", "analytics");
        AssertSwitchAt(checks, effectiveAt, before: "granted", after: "reconsent_required");

        var after = await (await admin.GetAsync("/v1/stores/s1/policy")).ReadJsonAsync();
        Assert.Equal(2, after["version"]!.GetValue<int>());
        Assert.Equal(effectiveAt.UtcDateTime, At(after["effectiveAt"]!), TimeSpan.FromMilliseconds(1));
        Assert.Empty(after["upcoming"]!.AsArray());
        var changed = feed.Next(m => m.Type == "policyChanged", Wait);
        Assert.Equal(2, changed.Payload.GetProperty("policyVersion").GetInt32());
        await (await admin.SetConsentAsync("s1", "u1", "analytics", true, policyVersion: 2)).ShouldBeOkAsync();
        Assert.Equal((true, "granted"), await admin.DecideAsync("s1", "u1", "analytics"));
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task A_scheduled_suspension_stops_every_check_at_its_instant_for_subjects_with_and_without_a_record(string store)
    {
        await using var database = store == "sqlite" ? TestDatabase.Sqlite() : await TestDatabase.PostgresAsync();
        await using var factory = new EdgeApiFactory(database.ConnectionString, Settings);
        var admin = factory.ClientWith(EdgeApiFactory.AdminToken);
        await (await admin.PublishPolicyAsync("s1", 1)).ShouldBeOkAsync();
        await (await admin.SetConsentAsync("s1", "u1", "analytics", true)).ShouldBeOkAsync();
        // Both kinds of cached answers are warm before the schedule is published: decision and absence leases.
        Assert.Equal((true, "granted"), await admin.DecideAsync("s1", "u1", "analytics"));
        Assert.Equal((false, "no_consent"), await admin.DecideAsync("s1", "ghost", "analytics"));

        var effectiveAt = InWholeMilliseconds(DateTimeOffset.UtcNow).AddSeconds(9);
        await (await admin.PutAsync("/v1/stores/s1/policy", Policy(2, Purposes, effectiveAt, status: "suspended")))
            .ShouldBeOkAsync(HttpStatusCode.Accepted);

        var withRecord = CheckAcrossAsync(factory, effectiveAt, "u1", "analytics");
        var withoutRecord = CheckAcrossAsync(factory, effectiveAt, "ghost", "analytics");
        AssertSwitchAt(await withRecord, effectiveAt, before: "granted", after: "store_suspended");
        AssertSwitchAt(await withoutRecord, effectiveAt, before: "no_consent", after: "store_suspended");
    }

    [Fact]
    public async Task A_cancelled_version_never_takes_effect_and_one_too_close_cannot_be_cancelled()
    {
        await using var database = TestDatabase.Sqlite();
        await using var factory = new EdgeApiFactory(database.ConnectionString, Settings);
        var admin = factory.ClientWith(EdgeApiFactory.AdminToken);
        var seller = factory.ClientWith(EdgeApiFactory.SellerS1Token);
        var storefront = factory.ClientWith(EdgeApiFactory.StorefrontS1Token);
        await (await admin.PublishPolicyAsync("s1", 1)).ShouldBeOkAsync();
        await (await admin.SetConsentAsync("s1", "u1", "analytics", true)).ShouldBeOkAsync();
        await using var feed = FeedClient.InMemory(factory.Server, EdgeApiFactory.SellerS1Token);
        await feed.SubscribeAsync("s1");

        var effectiveAt = InWholeMilliseconds(DateTimeOffset.UtcNow).AddSeconds(9);
        await (await seller.PutAsync("/v1/stores/s1/policy", Policy(2, Purposes, effectiveAt, status: "suspended")))
            .ShouldBeOkAsync(HttpStatusCode.Accepted);
        await (await storefront.DeleteAsync("/v1/stores/s1/policy/upcoming/2")).ShouldBeProblemAsync(HttpStatusCode.Forbidden);
        await (await seller.DeleteAsync("/v1/stores/s1/policy/upcoming/2")).ShouldBeOkAsync(HttpStatusCode.NoContent);
        await (await seller.DeleteAsync("/v1/stores/s1/policy/upcoming/2"))
            .ShouldBeProblemAsync(HttpStatusCode.NotFound, "scheduled_policy_not_found");
        await (await seller.DeleteAsync("/v1/stores/s1/policy/upcoming/1"))
            .ShouldBeProblemAsync(HttpStatusCode.NotFound, "scheduled_policy_not_found");
        var cancelled = feed.Next(m => m.Type == "policyScheduled" && m.Payload.GetProperty("cancelled").GetBoolean(), Wait);
        Assert.Equal(2, cancelled.Payload.GetProperty("policyVersion").GetInt32());

        await Task.Delay(effectiveAt - DateTimeOffset.UtcNow + TimeSpan.FromSeconds(1));
        Assert.Equal((true, "granted"), await admin.DecideAsync("s1", "u1", "analytics"));
        var policy = await (await admin.GetAsync("/v1/stores/s1/policy")).ReadJsonAsync();
        Assert.Equal(1, policy["version"]!.GetValue<int>());
        Assert.Empty(policy["upcoming"]!.AsArray());
        Assert.Null(feed.TryNext(m => m.Type == "policyChanged", TimeSpan.FromSeconds(1)));

        // The number of a cancelled version may be used again; within a policy lease of its instant it is too late.
        var soon = DateTimeOffset.UtcNow.AddSeconds(9);
        await (await seller.PutAsync("/v1/stores/s1/policy", Policy(2, Purposes, soon, status: "suspended")))
            .ShouldBeOkAsync(HttpStatusCode.Accepted);
        await Task.Delay(soon - DateTimeOffset.UtcNow - TimeSpan.FromSeconds(2));
        await (await seller.DeleteAsync("/v1/stores/s1/policy/upcoming/2"))
            .ShouldBeProblemAsync(HttpStatusCode.Conflict, "policy_effective_soon");
    }

    [Fact]
    public async Task Versions_take_effect_in_order_at_least_a_policy_lease_ahead()
    {
        await using var database = TestDatabase.Sqlite();
        await using var factory = new EdgeApiFactory(database.ConnectionString, Settings);
        var admin = factory.ClientWith(EdgeApiFactory.AdminToken);
        await (await admin.PublishPolicyAsync("s1", 1)).ShouldBeOkAsync();

        var inAnHour = DateTimeOffset.UtcNow.AddHours(1);
        await (await admin.PutAsync("/v1/stores/s1/policy", Policy(2, Purposes, DateTimeOffset.UtcNow.AddSeconds(1))))
            .ShouldBeProblemAsync(HttpStatusCode.UnprocessableEntity, "effective_at_too_soon");
        await (await admin.PutAsync("/v1/stores/s1/policy", Policy(2, Purposes, inAnHour))).ShouldBeOkAsync(HttpStatusCode.Accepted);
        await (await admin.PutAsync("/v1/stores/s1/policy", Policy(2, Purposes, inAnHour.AddHours(1))))
            .ShouldBeProblemAsync(HttpStatusCode.Conflict, "policy_version_conflict");
        await (await admin.PutAsync("/v1/stores/s1/policy", Policy(3, Purposes, effectiveAt: null)))
            .ShouldBeProblemAsync(HttpStatusCode.Conflict, "policy_scheduled");
        await (await admin.PutAsync("/v1/stores/s1/policy", Policy(3, Purposes, inAnHour.AddMinutes(-1))))
            .ShouldBeProblemAsync(HttpStatusCode.Conflict, "policy_scheduled");
        await (await admin.PutAsync("/v1/stores/s1/policy", Policy(3, Purposes, inAnHour.AddMinutes(1)))).ShouldBeOkAsync(HttpStatusCode.Accepted);

        var policy = await (await admin.GetAsync("/v1/stores/s1/policy")).ReadJsonAsync();
        Assert.Equal(1, policy["version"]!.GetValue<int>());
        Assert.Equal([2, 3], policy["upcoming"]!.AsArray().Select(v => v!["version"]!.GetValue<int>()));

        // Version 3 was built on 2: withdrawing 2 withdraws 3, and an immediate version may follow.
        await (await admin.DeleteAsync("/v1/stores/s1/policy/upcoming/2")).ShouldBeOkAsync(HttpStatusCode.NoContent);
        policy = await (await admin.GetAsync("/v1/stores/s1/policy")).ReadJsonAsync();
        Assert.Empty(policy["upcoming"]!.AsArray());
        await (await admin.PublishPolicyAsync("s1", 2)).ShouldBeOkAsync();
    }

    [Fact]
    public async Task A_version_takes_effect_by_its_reminder_after_a_restart_without_any_request()
    {
        await using var database = TestDatabase.Sqlite();
        DateTimeOffset effectiveAt;
        await using (var first = new EdgeApiFactory(database.ConnectionString, Settings))
        {
            var admin = first.ClientWith(EdgeApiFactory.AdminToken);
            await (await admin.PublishPolicyAsync("s1", 1)).ShouldBeOkAsync();
            // Counted from here, not from before the host started: starting it can take most of the 9 s on a loaded machine.
            effectiveAt = InWholeMilliseconds(DateTimeOffset.UtcNow).AddSeconds(9);
            await (await admin.PutAsync("/v1/stores/s1/policy", Policy(2, Purposes, effectiveAt, status: "suspended")))
                .ShouldBeOkAsync(HttpStatusCode.Accepted);
            Assert.Equal(1L, await ReminderRowsAsync(database));
        }

        // Down across the instant; the restarted service is not asked anything about the store.
        await Task.Delay(effectiveAt - DateTimeOffset.UtcNow + TimeSpan.FromSeconds(1));
        await using var second = new EdgeApiFactory(database.ConnectionString, Settings);
        _ = second.Server;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (await ReminderRowsAsync(database) != 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "The reminder did not fold the version that took effect while the service was down.");
            await Task.Delay(200);
        }

        var client = second.ClientWith(EdgeApiFactory.AdminToken);
        var policy = await (await client.GetAsync("/v1/stores/s1/policy")).ReadJsonAsync();
        Assert.Equal(2, policy["version"]!.GetValue<int>());
        Assert.Equal("suspended", policy["status"]!.GetValue<string>());
        Assert.Empty(policy["upcoming"]!.AsArray());
        Assert.Equal((false, "store_suspended"), await client.DecideAsync("s1", "u1", "analytics"));
    }

    private const string Purposes = """{"analytics":{"enabled":true,"materialChange":false},"recommendation":{"enabled":true,"materialChange":false}}""";

    private static StringContent Policy(int version, string purposes, DateTimeOffset? effectiveAt, string status = "active") =>
        ConsentApi.Json($$"""
            {"version":{{version}},"status":"{{status}}","sellerAttestation":true,"purposes":{{purposes}}{{(effectiveAt is { } at
                ? $",\"effectiveAt\":\"{at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture)}\""
                : "")}}}
            """);

    /// <summary>As the request states it (RFC 3339 with milliseconds): the instant the service is given.</summary>
    private static DateTimeOffset InWholeMilliseconds(DateTimeOffset at) => new(at.UtcTicks - at.UtcTicks % TimeSpan.TicksPerMillisecond, TimeSpan.Zero);

    private static DateTime At(JsonNode node) => DateTime.Parse(node.GetValue<string>(), CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal);

    private sealed record Check(DateTimeOffset Start, DateTimeOffset End, string Reason);

    /// <summary>Checks one subject back to back from 2 s before <paramref name="instant"/> to 2 s after, each with its start and end.</summary>
    private static async Task<List<Check>> CheckAcrossAsync(EdgeApiFactory factory, DateTimeOffset instant, string subject, string purpose)
    {
        var client = factory.ClientWith(EdgeApiFactory.StorefrontS1Token);
        var checks = new List<Check>();
        var lead = instant - DateTimeOffset.UtcNow - TimeSpan.FromSeconds(2);
        if (lead > TimeSpan.Zero)
        {
            await Task.Delay(lead);
        }

        while (DateTimeOffset.UtcNow < instant + TimeSpan.FromSeconds(2))
        {
            var start = DateTimeOffset.UtcNow;
            var (_, reason) = await client.DecideAsync("s1", subject, purpose);
            checks.Add(new Check(start, DateTimeOffset.UtcNow, reason));
        }

        return checks;
    }

    private static void AssertSwitchAt(List<Check> checks, DateTimeOffset instant, string before, string after)
    {
        var early = checks.Where(c => c.End < instant).ToList();
        var late = checks.Where(c => c.Start > instant).ToList();
        Assert.True(early.Count > 10 && late.Count > 10, $"Too few checks around the instant: {early.Count} before, {late.Count} after.");
        Assert.All(early, c => Assert.True(c.Reason == before,
            $"A check that ended {(instant - c.End).TotalMilliseconds:F1} ms before the instant (started {(instant - c.Start).TotalMilliseconds:F1} ms before) answered {c.Reason}."));
        Assert.All(late, c => Assert.True(c.Reason == after,
            $"A check that started {(c.Start - instant).TotalMilliseconds:F1} ms after the instant answered {c.Reason}."));
    }

    private static async Task<long> ReminderRowsAsync(TestDatabase database) =>
        Convert.ToInt64(await database.ExecuteAsync("SELECT COUNT(*) FROM ConsentReminders WHERE ReminderName = 'policy-effective'"));
}
