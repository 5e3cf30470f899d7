using System.Net;
using Microsoft.Extensions.DependencyInjection;
using ShopAstro.Grains.Interfaces;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Durability;

/// <summary>
/// What is acknowledged is in the store: it survives the host, a lost version race is an error and not an
/// overwrite, and a failed write leaves nothing behind in memory. Run on SQLite and on PostgreSQL.
/// </summary>
public abstract class DurabilityTests : IAsyncLifetime
{
    private TestDatabase _database = null!;

    protected abstract Task<TestDatabase> CreateDatabaseAsync();



    public async Task InitializeAsync() => _database = await CreateDatabaseAsync();

    public async Task DisposeAsync() => await _database.DisposeAsync();

    [Fact]
    public async Task A_grant_survives_stopping_the_host_and_starting_a_new_one()
    {
        await using (var first = new EdgeApiFactory(_database.ConnectionString))
        {
            var client = first.ClientWith(EdgeApiFactory.AdminToken);
            await (await client.PublishPolicyAsync("s1", 1)).ShouldBeOkAsync();
            await (await client.SetConsentAsync("s1", "u1", "analytics", true)).ShouldBeOkAsync();
            await (await client.SetConsentAsync("s1", "u1", "recommendation", true)).ShouldBeOkAsync();
            await (await client.SetConsentAsync("s1", "u1", "recommendation", false)).ShouldBeOkAsync();
            Assert.Equal((true, "granted"), await client.DecideAsync("s1", "u1", "analytics"));
        }

        await using var second = new EdgeApiFactory(_database.ConnectionString);
        var again = second.ClientWith(EdgeApiFactory.AdminToken);
        Assert.Equal((true, "granted"), await again.DecideAsync("s1", "u1", "analytics"));
        Assert.Equal((false, "withdrawn"), await again.DecideAsync("s1", "u1", "recommendation"));
        var record = await (await again.GetAsync("/v1/stores/s1/subjects/u1")).ReadJsonAsync();
        Assert.Equal(3, record["receipts"]!.AsArray().Count);
        var policy = await (await again.GetAsync("/v1/stores/s1/policy")).ReadJsonAsync();
        Assert.Equal(1, policy["version"]!.GetValue<int>());
        // The schema is applied again at start-up without harm, and the version check still holds.
        await (await again.PublishPolicyAsync("s1", 1)).ShouldBeProblemAsync(HttpStatusCode.Conflict, "policy_version_conflict");
    }

    /// <summary>
    /// A call whose caller has given up (its deadline passed: held in a stopped gateway, or queued behind slow writes)
    /// writes nothing: its client was answered 503 and may have had a later write acknowledged since.
    /// </summary>
    [Fact]
    public async Task A_write_whose_call_deadline_has_passed_is_not_stored_and_the_subject_keeps_answering()
    {
        await using var factory = new EdgeApiFactory(_database.ConnectionString);
        var client = factory.ClientWith(EdgeApiFactory.AdminToken);
        await (await client.PublishPolicyAsync("s1", 1)).ShouldBeOkAsync();
        await (await client.SetConsentAsync("s1", "u1", "analytics", true)).ShouldBeOkAsync();
        var subject = factory.Services.GetRequiredService<IGrainFactory>().GetGrain<ISubjectGrain>(SubjectKey.Of("s1", "u1"));

        CallDeadline.Set(DateTimeOffset.UtcNow - TimeSpan.FromMilliseconds(1));
        var refused = await Assert.ThrowsAsync<StorageUnavailableException>(() => subject.SetMinor(true));
        Orleans.Runtime.RequestContext.Clear();

        Assert.Contains("deadline", refused.Message);
        Assert.Equal(SubjectStatus.Active, (await subject.GetRecord())!.Status);
        Assert.Equal((true, "granted"), await client.DecideAsync("s1", "u1", "analytics"));
        Assert.Equal(1L, Convert.ToInt64(await _database.ExecuteAsync(
            "SELECT COUNT(*) FROM ConsentGrainState WHERE GrainTypeString = 'subject'")));

        // The same call in time is stored.
        CallDeadline.Set(DateTimeOffset.UtcNow + TimeSpan.FromSeconds(10));
        await subject.SetMinor(true);
        Orleans.Runtime.RequestContext.Clear();
        Assert.Equal((false, "minor"), await client.DecideAsync("s1", "u1", "analytics"));
    }

    [Fact]
    public async Task The_schema_keeps_one_row_per_grain()
    {
        await using var factory = new EdgeApiFactory(_database.ConnectionString);
        var client = factory.ClientWith(EdgeApiFactory.AdminToken);
        await (await client.PublishPolicyAsync("s1", 1)).ShouldBeOkAsync();
        await (await client.SetConsentAsync("s1", "u1", "analytics", true)).ShouldBeOkAsync();
        await (await client.SetConsentAsync("s1", "u1", "analytics", false)).ShouldBeOkAsync();

        Assert.Equal(1L, Convert.ToInt64(await _database.ExecuteAsync(
            "SELECT COUNT(*) FROM ConsentGrainState WHERE GrainTypeString = 'subject'")));
        Assert.Equal(3L, Convert.ToInt64(await _database.ExecuteAsync(
            "SELECT COUNT(*) FROM OrleansQuery WHERE QueryKey IN ('ReadFromStorageKey', 'WriteToStorageKey', 'ClearStorageKey')")));
        await Assert.ThrowsAnyAsync<System.Data.Common.DbException>(() => _database.ExecuteAsync("""
            INSERT INTO ConsentGrainState (ServiceId, GrainTypeString, GrainIdN0, GrainIdN1, GrainIdExtensionString,
                GrainIdHash, GrainTypeHash, PayloadBinary, Version, ModifiedOn)
            SELECT ServiceId, GrainTypeString, GrainIdN0, GrainIdN1, GrainIdExtensionString,
                GrainIdHash, GrainTypeHash, PayloadBinary, Version, ModifiedOn
            FROM ConsentGrainState WHERE GrainTypeString = 'subject'
            """));
    }

    [Fact]
    public async Task A_write_that_loses_the_version_race_is_an_error_not_an_overwrite()
    {
        await using var factory = new EdgeApiFactory(_database.ConnectionString);
        var client = factory.ClientWith(EdgeApiFactory.AdminToken);
        await (await client.PublishPolicyAsync("s1", 1)).ShouldBeOkAsync();
        await (await client.SetConsentAsync("s1", "u1", "analytics", true)).ShouldBeOkAsync();

        // Another writer (a second activation, an operator) moved the row on behind this activation's back.
        await _database.ExecuteAsync("UPDATE ConsentGrainState SET Version = Version + 1 WHERE GrainTypeString = 'subject'");

        var lost = await client.SetConsentAsync("s1", "u1", "analytics", false);
        await lost.ShouldBeProblemAsync(HttpStatusCode.Conflict, "concurrent_modification");

        // The next attempt reads the row afresh and succeeds; nothing was silently overwritten before it.
        await (await client.SetConsentAsync("s1", "u1", "analytics", false)).ShouldBeOkAsync();
        Assert.Equal((false, "withdrawn"), await client.DecideAsync("s1", "u1", "analytics"));
        var record = await (await client.GetAsync("/v1/stores/s1/subjects/u1")).ReadJsonAsync();
        Assert.Equal(2, record["receipts"]!.AsArray().Count);
    }

    [Fact]
    public async Task A_write_by_an_activation_whose_row_was_cleared_meanwhile_does_not_bring_the_row_back()
    {
        await using var factory = new EdgeApiFactory(_database.ConnectionString);
        var client = factory.ClientWith(EdgeApiFactory.AdminToken);
        await (await client.PublishPolicyAsync("s1", 1)).ShouldBeOkAsync();
        await (await client.SetConsentAsync("s1", "u1", "analytics", true)).ShouldBeOkAsync();

        // Another activation of the subject (a duplicate during a membership change) erased it: the row is gone.
        await _database.ExecuteAsync("DELETE FROM ConsentGrainState WHERE GrainTypeString = 'subject'");

        // This activation still holds version 1 of a row that no longer exists: its write is a lost race.
        var stale = await client.SetConsentAsync("s1", "u1", "recommendation", true);
        await stale.ShouldBeProblemAsync(HttpStatusCode.Conflict, "concurrent_modification");
        Assert.Equal(0L, Convert.ToInt64(await _database.ExecuteAsync(
            "SELECT COUNT(*) FROM ConsentGrainState WHERE GrainTypeString = 'subject'")));

        // The next activation reads the truth (no record) and writes from there; the erased grant stays erased.
        await (await client.SetConsentAsync("s1", "u1", "recommendation", true)).ShouldBeOkAsync();
        Assert.Equal((false, "no_consent"), await client.DecideAsync("s1", "u1", "analytics"));
        var record = await (await client.GetAsync("/v1/stores/s1/subjects/u1")).ReadJsonAsync();
        Assert.Single(record["receipts"]!.AsArray());
    }

    [Fact]
    public async Task A_failed_write_is_not_acknowledged_and_leaves_no_trace_in_memory()
    {
        await using (var factory = new EdgeApiFactory(_database.ConnectionString))
        {
            var client = factory.ClientWith(EdgeApiFactory.AdminToken);
            await (await client.PublishPolicyAsync("s1", 1)).ShouldBeOkAsync();
            await (await client.SetConsentAsync("s1", "u1", "analytics", true)).ShouldBeOkAsync();

            await _database.ExecuteAsync(_database.BlockUpdatesSql);
            var failed = await client.SetConsentAsync("s1", "u1", "analytics", false);
            await failed.ShouldBeProblemAsync(HttpStatusCode.ServiceUnavailable, "unavailable");
            Assert.True(failed.Headers.RetryAfter is not null, "503 carries Retry-After");
            var failedPolicy = await client.PublishPolicyAsync("s1", 2, """{"analytics":{"enabled":false,"materialChange":false}}""");
            await failedPolicy.ShouldBeProblemAsync(HttpStatusCode.ServiceUnavailable, "unavailable");

            // Neither the withdrawal nor the policy that was never stored is in effect.
            Assert.Equal((true, "granted"), await client.DecideAsync("s1", "u1", "analytics"));
            var record = await (await client.GetAsync("/v1/stores/s1/subjects/u1")).ReadJsonAsync();
            Assert.Single(record["receipts"]!.AsArray());
            var policy = await (await client.GetAsync("/v1/stores/s1/policy")).ReadJsonAsync();
            Assert.Equal(1, policy["version"]!.GetValue<int>());

            await _database.ExecuteAsync(_database.UnblockUpdatesSql);
            await (await client.PublishPolicyAsync("s1", 2)).ShouldBeOkAsync();
        }

        await using var restarted = new EdgeApiFactory(_database.ConnectionString);
        Assert.Equal((true, "granted"), await restarted.ClientWith(EdgeApiFactory.AdminToken).DecideAsync("s1", "u1", "analytics"));
    }
}

public sealed class SqliteDurabilityTests : DurabilityTests
{
    protected override Task<TestDatabase> CreateDatabaseAsync() => Task.FromResult(TestDatabase.Sqlite());
}

public sealed class PostgresDurabilityTests : DurabilityTests
{
    protected override Task<TestDatabase> CreateDatabaseAsync() => TestDatabase.PostgresAsync();
}
