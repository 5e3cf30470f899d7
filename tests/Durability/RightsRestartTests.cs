using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using ShopAstro.Grains;
using ShopAstro.Grains.Interfaces;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Durability;

/// <summary>
/// The lifecycle states that protect a shopper are stored, not remembered: a minor, a cancelled account and
/// a deletion's anonymised receipts outlive the host. Run on SQLite and on PostgreSQL.
/// </summary>
public abstract class RightsRestartTests : IAsyncLifetime
{
    private TestDatabase _database = null!;

    protected abstract Task<TestDatabase> CreateDatabaseAsync();

    public async Task InitializeAsync() => _database = await CreateDatabaseAsync();

    public async Task DisposeAsync() => await _database.DisposeAsync();

    [Fact]
    public async Task A_minor_stays_a_minor_after_a_restart()
    {
        await using (var first = new EdgeApiFactory(_database.ConnectionString))
        {
            var client = first.ClientWith(EdgeApiFactory.AdminToken);
            await (await client.PublishPolicyAsync("s1", 1)).ShouldBeOkAsync();
            await (await client.SetConsentAsync("s1", "u1", "analytics", true)).ShouldBeOkAsync();
            await (await client.PutAsync("/v1/stores/s1/subjects/u1/age", ConsentApi.Json("""{"minor":true}""")))
                .ShouldBeOkAsync(HttpStatusCode.NoContent);
            Assert.Equal((false, "minor"), await client.DecideAsync("s1", "u1", "analytics"));
        }

        await using var second = new EdgeApiFactory(_database.ConnectionString);
        var again = second.ClientWith(EdgeApiFactory.AdminToken);
        Assert.Equal((false, "minor"), await again.DecideAsync("s1", "u1", "analytics"));
        Assert.Equal((false, "minor"), await again.DecideAsync("s1", "u1", "cart"));
        Assert.Equal((true, "necessary"), await again.DecideAsync("s1", "u1", "necessary"));
        await (await again.SetConsentAsync("s1", "u1", "analytics", true)).ShouldBeProblemAsync(HttpStatusCode.Conflict, "subject_minor");
        var record = await GetSubjectAsync(again, "s1", "u1");
        Assert.Equal("minor", record["status"]!.GetValue<string>());
        Assert.Empty(record["consents"]!.AsObject());
        ShopAstro.Tests.Http.RightsTests.AssertEvents(record, "minor_set");
    }

    [Fact]
    public async Task A_cancellation_survives_a_restart()
    {
        await using (var first = new EdgeApiFactory(_database.ConnectionString))
        {
            var client = first.ClientWith(EdgeApiFactory.AdminToken);
            await (await client.PublishPolicyAsync("s1", 1)).ShouldBeOkAsync();
            await (await client.SetConsentAsync("s1", "u1", "analytics", true)).ShouldBeOkAsync();
            await (await client.SetConsentAsync("s1", "anon:x", "recommendation", true)).ShouldBeOkAsync();
            await (await client.PostAsync("/v1/stores/s1/subjects/u1/cancel", null)).ShouldBeOkAsync(HttpStatusCode.NoContent);
        }

        await using var second = new EdgeApiFactory(_database.ConnectionString);
        var again = second.ClientWith(EdgeApiFactory.AdminToken);
        foreach (var purpose in new[] { "analytics", "recommendation", "cart" })
        {
            Assert.Equal((false, "account_cancelled"), await again.DecideAsync("s1", "u1", purpose));
        }

        Assert.Equal((true, "necessary"), await again.DecideAsync("s1", "u1", "necessary"));
        await (await again.SetConsentAsync("s1", "u1", "analytics", true)).ShouldBeProblemAsync(HttpStatusCode.Conflict, "subject_cancelled");
        await (await again.PutAsync("/v1/stores/s1/subjects/u1/age", ConsentApi.Json("""{"minor":false}""")))
            .ShouldBeProblemAsync(HttpStatusCode.Conflict, "subject_cancelled");
        await (await again.PostAsync("/v1/stores/s1/subjects/u1/link", ConsentApi.Json("""{"anonymousId":"anon:x"}""")))
            .ShouldBeProblemAsync(HttpStatusCode.Conflict, "subject_cancelled");
        var record = await GetSubjectAsync(again, "s1", "u1");
        Assert.Equal("cancelled", record["status"]!.GetValue<string>());
        ShopAstro.Tests.Http.RightsTests.AssertEvents(record, "cancelled");
    }

    [Fact]
    public async Task A_deletion_s_anonymised_archive_survives_a_restart()
    {
        List<(string ReceiptId, string Hash)> before;
        await using (var first = new EdgeApiFactory(_database.ConnectionString))
        {
            var client = first.ClientWith(EdgeApiFactory.AdminToken);
            await (await client.PublishPolicyAsync("s1", 1)).ShouldBeOkAsync();
            await (await client.SetConsentAsync("s1", "u1", "analytics", true)).ShouldBeOkAsync();
            await (await client.SetConsentAsync("s1", "u1", "recommendation", true, gpc: true)).ShouldBeOkAsync();
            await (await client.SetConsentAsync("s1", "u1", "analytics", false)).ShouldBeOkAsync();
            before = (await GetSubjectAsync(client, "s1", "u1"))["receipts"]!.AsArray()
                .Select(r => (r!["receiptId"]!.GetValue<string>(), r["hash"]!.GetValue<string>())).ToList();
            await (await client.DeleteAsync("/v1/stores/s1/subjects/u1")).ShouldBeOkAsync(HttpStatusCode.NoContent);
        }

        Assert.Equal(3, before.Count);
        await using var second = new EdgeApiFactory(_database.ConnectionString);
        var again = second.ClientWith(EdgeApiFactory.AdminToken);
        var record = await GetSubjectAsync(again, "s1", "u1");
        Assert.Equal("erased", record["status"]!.GetValue<string>());
        ShopAstro.Tests.Http.RightsTests.AssertEvents(record, "erased");
        Assert.Equal((false, "no_consent"), await again.DecideAsync("s1", "u1", "analytics"));

        var archive = Assert.Single(await _database.ArchiveKeysAsync("s1"));
        var archived = await second.Services.GetRequiredService<IGrainFactory>().GetGrain<IReceiptArchiveGrain>(archive).GetReceipts();
        Assert.Equal(before, archived.Select(r => (r.ReceiptId, r.Hash)).ToList());
        Assert.Null(ReceiptChain.FirstBroken(archived));

        // The shopper may still consent again after the restart.
        await (await again.SetConsentAsync("s1", "u1", "analytics", true)).ShouldBeOkAsync();
        Assert.Equal((true, "granted"), await again.DecideAsync("s1", "u1", "analytics"));
    }

    private static async Task<JsonNode> GetSubjectAsync(HttpClient client, string store, string subject)
    {
        var response = await client.GetAsync($"/v1/stores/{store}/subjects/{subject}");
        await response.ShouldBeOkAsync();
        return await response.ReadJsonAsync();
    }
}

public sealed class SqliteRightsRestartTests : RightsRestartTests
{
    protected override Task<TestDatabase> CreateDatabaseAsync() => Task.FromResult(TestDatabase.Sqlite());
}

public sealed class PostgresRightsRestartTests : RightsRestartTests
{
    protected override Task<TestDatabase> CreateDatabaseAsync() => TestDatabase.PostgresAsync();
}
