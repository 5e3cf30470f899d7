using System.Net;
using Npgsql;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Coherence;

/// <summary>
/// S2 for policies: a publish whose write fails is never used, neither while the write is out nor after it failed,
/// and publishing the same version again with other content replaces it everywhere. On PostgreSQL, whose driver
/// really is asynchronous: the store grain takes other calls while its write waits on a lock.
/// </summary>
public sealed class FailedPublishTests : IAsyncLifetime
{
    private TestDatabase _database = null!;

    public async Task InitializeAsync() => _database = await TestDatabase.PostgresAsync();

    public async Task DisposeAsync() => await _database.DisposeAsync();

    [Fact]
    public async Task A_publish_whose_write_fails_is_never_used_and_the_same_version_can_be_published_again()
    {
        await using var factory = new EdgeApiFactory(_database.ConnectionString);
        var client = factory.ClientWith(EdgeApiFactory.AdminToken);
        await (await client.PublishPolicyAsync("s1", 1, status: "suspended")).ShouldBeOkAsync();
        Assert.Equal((false, "store_suspended"), await client.DecideAsync("s1", "u0", "cart"));

        // Writes of the store's policy row wait on a lock held by an operator's session; reads go on.
        await using var locker = new NpgsqlConnection(_database.ConnectionString);
        await locker.OpenAsync();
        await using var transaction = await locker.BeginTransactionAsync();
        await using (var lockTable = new NpgsqlCommand(
            "SELECT COUNT(*) FROM (SELECT 1 FROM ConsentGrainState WHERE GrainTypeString = 'store' FOR UPDATE) AS locked", locker, transaction))
        {
            await lockTable.ExecuteNonQueryAsync();
        }

        var publishing = client.PublishPolicyAsync("s1", 2, status: "active");
        var writer = await WaitForBlockedWriterAsync();

        // While the write of version 2 (active) is out, subjects are decided under the stored version 1 (suspended):
        // subjects activating now, and subjects whose edge lease was taken before.
        foreach (var subject in new[] { "u0", "u1", "u2", "u3" })
        {
            Assert.Equal((false, "store_suspended"), await client.DecideAsync("s1", subject, "cart"));
        }

        await using (var terminate = new NpgsqlCommand($"SELECT pg_terminate_backend({writer})", locker, transaction))
        {
            await terminate.ExecuteScalarAsync();
        }

        var failed = await publishing;
        await failed.ShouldBeProblemAsync(HttpStatusCode.ServiceUnavailable, "unavailable");
        await transaction.RollbackAsync();

        foreach (var subject in new[] { "u0", "u1", "u2", "u3", "u4" })
        {
            Assert.Equal((false, "store_suspended"), await client.DecideAsync("s1", subject, "cart"));
        }

        var policy = await (await client.GetAsync("/v1/stores/s1/policy")).ReadJsonAsync();
        Assert.Equal(1, policy["version"]!.GetValue<int>());

        // The same version number again, now really stored, with other content: every check after the 200 sees it,
        // and keeps seeing it once the leases taken before it have been renewed.
        await (await client.PublishPolicyAsync("s1", 2, status: "suspended")).ShouldBeOkAsync();
        var until = DateTime.UtcNow.AddSeconds(8);
        var checks = 0;
        do
        {
            foreach (var subject in new[] { "u0", "u1", "u2", "u3", "u4", "u5" })
            {
                Assert.Equal((false, "store_suspended"), await client.DecideAsync("s1", subject, "cart"));
                checks++;
            }

            await Task.Delay(250);
        }
        while (DateTime.UtcNow < until);

        Assert.True(checks > 100, $"{checks} checks");
    }

    /// <summary>The backend of the storage provider's write, once it waits on the test's lock.</summary>
    private async Task<int> WaitForBlockedWriterAsync()
    {
        await using var monitor = new NpgsqlConnection(_database.ConnectionString);
        await monitor.OpenAsync();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            await using var find = new NpgsqlCommand(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
                monitor);
            if (await find.ExecuteScalarAsync() is int pid)
            {
                return pid;
            }

            Assert.True(DateTime.UtcNow < deadline, "the policy write never waited on the lock");
            await Task.Delay(20);
        }
    }
}
