using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using ShopAstro.Grains.Interfaces;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Durability;

/// <summary>
/// Someone with database access edits the stored proof of consent: the receipts' hash chain shows where,
/// in the access export after a restart. Run on SQLite and on PostgreSQL.
/// </summary>
public abstract class TamperTests : IAsyncLifetime
{
    private const string SubjectRow = "GrainTypeString = 'subject' AND GrainIdExtensionString = 's1/u1'";

    private TestDatabase _database = null!;

    protected abstract Task<TestDatabase> CreateDatabaseAsync();

    /// <summary>A SQL literal of binary data in this database's dialect.</summary>
    protected abstract string BlobLiteral(byte[] bytes);

    public async Task InitializeAsync() => _database = await CreateDatabaseAsync();

    public async Task DisposeAsync() => await _database.DisposeAsync();

    [Fact]
    public async Task An_edited_receipt_breaks_the_chain_at_that_receipt()
    {
        var version = await TamperAsync(record =>
        {
            var receipt = record.Receipts[1];
            // The choice changes, the stored hash stays as it was.
            return record with { Receipts = record.Receipts.SetItem(1, receipt with { Granted = !receipt.Granted }) };
        });

        await using var restarted = new EdgeApiFactory(_database.ConnectionString);
        var client = restarted.ClientWith(EdgeApiFactory.AdminToken);
        var record = await GetSubjectAsync(client);
        var receipts = record["receipts"]!.AsArray();
        Assert.Equal(3, receipts.Count);
        // What is served is the edited data, and the chain says so.
        Assert.True(receipts[1]!["granted"]!.GetValue<bool>());
        Assert.False(record["receiptChain"]!["valid"]!.GetValue<bool>());
        Assert.Equal(1, record["receiptChain"]!["firstBrokenIndex"]!.GetValue<int>());
        Assert.Equal(version, Convert.ToInt64(await _database.ExecuteAsync($"SELECT Version FROM ConsentGrainState WHERE {SubjectRow}")));

        // Later writes chain onto the edited record; they do not hide the break.
        await (await client.SetConsentAsync("s1", "u1", "recommendation", true)).ShouldBeOkAsync();
        var after = await GetSubjectAsync(client);
        Assert.Equal(4, after["receipts"]!.AsArray().Count);
        Assert.False(after["receiptChain"]!["valid"]!.GetValue<bool>());
        Assert.Equal(1, after["receiptChain"]!["firstBrokenIndex"]!.GetValue<int>());
    }

    [Fact]
    public async Task A_removed_receipt_is_detected()
    {
        await TamperAsync(record => record with { Receipts = record.Receipts.RemoveAt(1) });

        await using var restarted = new EdgeApiFactory(_database.ConnectionString);
        var record = await GetSubjectAsync(restarted.ClientWith(EdgeApiFactory.AdminToken));
        Assert.Equal(2, record["receipts"]!.AsArray().Count);
        Assert.False(record["receiptChain"]!["valid"]!.GetValue<bool>());
        Assert.Equal(1, record["receiptChain"]!["firstBrokenIndex"]!.GetValue<int>());
    }

    [Fact]
    public async Task Receipts_put_out_of_order_are_detected()
    {
        await TamperAsync(record => record with
        {
            Receipts = record.Receipts.SetItem(1, record.Receipts[2]).SetItem(2, record.Receipts[1]),
        });

        await using var restarted = new EdgeApiFactory(_database.ConnectionString);
        var record = await GetSubjectAsync(restarted.ClientWith(EdgeApiFactory.AdminToken));
        Assert.False(record["receiptChain"]!["valid"]!.GetValue<bool>());
        Assert.Equal(1, record["receiptChain"]!["firstBrokenIndex"]!.GetValue<int>());
    }

    [Fact]
    public async Task A_removed_first_receipt_is_detected_at_index_0()
    {
        await TamperAsync(record => record with { Receipts = record.Receipts.RemoveAt(0) });

        await using var restarted = new EdgeApiFactory(_database.ConnectionString);
        var record = await GetSubjectAsync(restarted.ClientWith(EdgeApiFactory.AdminToken));
        Assert.False(record["receiptChain"]!["valid"]!.GetValue<bool>());
        Assert.Equal(0, record["receiptChain"]!["firstBrokenIndex"]!.GetValue<int>());
    }

    [Fact]
    public async Task An_edited_status_receipt_breaks_the_chain_at_that_receipt()
    {
        // Minor set, lifted, then a grant: a receipt that said "lifted" is made to say "erased".
        await TamperAsync(
            record =>
            {
                Assert.Equal([ReceiptEvent.MinorSet, ReceiptEvent.MinorLifted, ReceiptEvent.Consent], record.Receipts.Select(r => r.Event));
                return record with { Receipts = record.Receipts.SetItem(1, record.Receipts[1] with { Event = ReceiptEvent.Erased }) };
            },
            async client =>
            {
                await (await client.PutAsync("/v1/stores/s1/subjects/u1/age", ConsentApi.Json("""{"minor":true}"""))).ShouldBeOkAsync(HttpStatusCode.NoContent);
                await (await client.PutAsync("/v1/stores/s1/subjects/u1/age", ConsentApi.Json("""{"minor":false}"""))).ShouldBeOkAsync(HttpStatusCode.NoContent);
                await (await client.SetConsentAsync("s1", "u1", "analytics", true)).ShouldBeOkAsync();
            });

        await using var restarted = new EdgeApiFactory(_database.ConnectionString);
        var record = await GetSubjectAsync(restarted.ClientWith(EdgeApiFactory.AdminToken));
        Assert.Equal("erased", record["receipts"]![1]!["event"]!.GetValue<string>());
        Assert.False(record["receiptChain"]!["valid"]!.GetValue<bool>());
        Assert.Equal(1, record["receiptChain"]!["firstBrokenIndex"]!.GetValue<int>());
    }

    /// <summary>
    /// Writes three receipts (by default grant, withdraw, grant; else as <paramref name="write"/> says), checks the
    /// chain is intact, stops the host and rewrites the stored record as <paramref name="edit"/> says, keeping the
    /// row's version. Returns it.
    /// </summary>
    private async Task<long> TamperAsync(Func<SubjectRecord, SubjectRecord> edit, Func<HttpClient, Task>? write = null)
    {
        byte[] tampered;
        await using (var first = new EdgeApiFactory(_database.ConnectionString))
        {
            var client = first.ClientWith(EdgeApiFactory.AdminToken);
            await (await client.PublishPolicyAsync("s1", 1)).ShouldBeOkAsync();
            await (write ?? GrantWithdrawGrant)(client);
            var intact = await GetSubjectAsync(client);
            Assert.True(intact["receiptChain"]!["valid"]!.GetValue<bool>());
            Assert.Null(intact["receiptChain"]!["firstBrokenIndex"]);

            var stored = Assert.IsType<byte[]>(await _database.ExecuteAsync($"SELECT PayloadBinary FROM ConsentGrainState WHERE {SubjectRow}"));
            var serializer = first.Services.GetRequiredService<Serializer>();
            var record = serializer.Deserialize<SubjectRecord>(stored)!;
            Assert.Equal(3, record.Receipts.Count);
            tampered = serializer.SerializeToArray(edit(record));
        }

        var version = Convert.ToInt64(await _database.ExecuteAsync($"SELECT Version FROM ConsentGrainState WHERE {SubjectRow}"));
        await _database.ExecuteAsync($"UPDATE ConsentGrainState SET PayloadBinary = {BlobLiteral(tampered)} WHERE {SubjectRow}");
        Assert.Equal(version, Convert.ToInt64(await _database.ExecuteAsync($"SELECT Version FROM ConsentGrainState WHERE {SubjectRow}")));
        return version;
    }

    private static async Task GrantWithdrawGrant(HttpClient client)
    {
        await (await client.SetConsentAsync("s1", "u1", "analytics", true)).ShouldBeOkAsync();
        await (await client.SetConsentAsync("s1", "u1", "analytics", false)).ShouldBeOkAsync();
        await (await client.SetConsentAsync("s1", "u1", "analytics", true)).ShouldBeOkAsync();
    }

    private static async Task<JsonNode> GetSubjectAsync(HttpClient client)
    {
        var response = await client.GetAsync("/v1/stores/s1/subjects/u1");
        await response.ShouldBeOkAsync(HttpStatusCode.OK);
        return await response.ReadJsonAsync();
    }
}

public sealed class SqliteTamperTests : TamperTests
{
    protected override Task<TestDatabase> CreateDatabaseAsync() => Task.FromResult(TestDatabase.Sqlite());

    protected override string BlobLiteral(byte[] bytes) => $"X'{Convert.ToHexString(bytes)}'";
}

public sealed class PostgresTamperTests : TamperTests
{
    protected override Task<TestDatabase> CreateDatabaseAsync() => TestDatabase.PostgresAsync();

    protected override string BlobLiteral(byte[] bytes) => $"decode('{Convert.ToHexString(bytes)}', 'hex')";
}
