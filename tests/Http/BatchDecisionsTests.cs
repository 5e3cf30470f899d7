using System.Buffers;
using System.Text.Json;
using Microsoft.Extensions.ObjectPool;
using ShopAstro.EdgeApi.Decisions;
using ShopAstro.EdgeApi.Http;
using ShopAstro.Grains.Interfaces;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Http;

/// <summary>
/// The batch's decider (EdgeApi/Decisions/BatchDecisions.cs): its response, written field by field, is the contract's
/// <see cref="BatchResponse"/> byte for byte; one back in the pool holds nothing of its request; and a batch decided
/// from leases held here allocates nothing per item or per subject.
/// </summary>
public sealed class BatchDecisionsTests(SqliteEdgeFixture fixture) : IClassFixture<SqliteEdgeFixture>
{
    private readonly HttpClient _client = fixture.Factory.ClientWith(EdgeApiFactory.AdminToken);

    [Fact]
    public async Task Writes_the_contracts_batch_response_byte_for_byte()
    {
        var (store, cache) = await StoreWithSubjectsAsync();
        List<BatchItem?> items =
        [
            new("granted", "analytics"), new("withdrawn", "analytics"), new("granted", "cart"), new("never", "analytics"),
            new("granted", "analytics"), new("never", "necessary"), new("withdrawn", "advertising"), new("granted", "affiliate_sharing"),
        ];
        await WarmAsync(store, items);

        var (decisions, json) = await DecideAsync(cache, store, items);

        Assert.Equal(
            ["granted", "withdrawn", "contract", "no_consent", "granted", "necessary", "purpose_disabled", "purpose_disabled"],
            decisions.Select(d => d.Reason.ToCode()));
        var results = items.Select((item, i) =>
            new BatchResult(item!.SubjectId!, decisions[i].Purpose.ToId(), decisions[i].Allowed, decisions[i].Reason.ToCode()));
        var expected = JsonSerializer.SerializeToUtf8Bytes(new BatchResponse(results.ToArray()), EdgeJsonContext.Default.BatchResponse);
        Assert.Equal(System.Text.Encoding.UTF8.GetString(expected), System.Text.Encoding.UTF8.GetString(json));
    }

    [Fact]
    public async Task A_batch_back_in_the_pool_holds_nothing_of_its_request()
    {
        var (store, cache) = await StoreWithSubjectsAsync();
        List<BatchItem?> valid = [new("granted", "analytics"), new("withdrawn", "analytics")];
        await WarmAsync(store, valid);

        // An instance of its own, reset by the policy the pool uses: tests running beside this one rent from the
        // shared pool.
        var policy = new DefaultPooledObjectPolicy<BatchDecisions>();
        var batch = policy.Create();
        Assert.NotNull(batch.Group([new("leftover-1", "analytics"), new("leftover-2", "cart"), new("granted", "tracking")]));
        Assert.Equal(2, batch.Subjects);
        Assert.True(policy.Return(batch));
        Assert.Equal(0, batch.Subjects);
        Assert.Equal(0, batch.Decisions.Length);

        Assert.Null(batch.Group(valid));
        await batch.DecideAsync(cache, store, RequestSignals.None);
        Assert.Equal(2, batch.Subjects);
        Assert.Equal(["granted", "withdrawn"], batch.Decisions.ToArray().Select(d => d.Reason.ToCode()));
        Assert.True(policy.Return(batch));
        Assert.Equal(0, batch.Subjects);
    }

    [Fact]
    public async Task A_batch_decided_from_leases_allocates_nothing_per_item_or_subject()
    {
        const int Subjects = 1_000;
        var (store, cache) = await StoreWithSubjectsAsync();
        var items = Enumerable.Range(0, 10_000).Select(i => (BatchItem?)new BatchItem($"u{i % Subjects}", (i % 3) switch
        {
            0 => "analytics",
            1 => "cart",
            _ => "recommendation",
        })).ToList();
        await WarmAsync(store, items);
        var output = new ArrayBufferWriter<byte>(1024 * 1024);
        await using var writer = new Utf8JsonWriter(output, new JsonWriterOptions { SkipValidation = true });
        DecideInto(cache, store, items, writer, output);

        // The least of three: a test running beside this one may take the pooled instance this one returned.
        var allocated = long.MaxValue;
        for (var run = 0; run < 3; run++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            DecideInto(cache, store, items, writer, output);
            allocated = Math.Min(allocated, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        // Nothing per item or per subject (the lease key is looked up from the stack); what is left is the pool's and
        // the lookups' bookkeeping. Before: 48 bytes per item of result objects (480,000 bytes), about 0.7 MB of arrays
        // and index, and 64 bytes of lease key and 100 bytes of decision set per subject.
        Assert.True(allocated < 16_384, $"{allocated:N0} bytes allocated for 10,000 items of {Subjects:N0} subjects");
    }

    /// <summary>Once synchronously, as every subject's lease is held: the thread's allocations are the batch's.</summary>
    private static void DecideInto(DecisionCache cache, string store, List<BatchItem?> items, Utf8JsonWriter writer, ArrayBufferWriter<byte> output)
    {
        output.ResetWrittenCount();
        writer.Reset(output);
        var batch = BatchDecisions.Rent();
        Assert.Null(batch.Group(items));
        var decided = batch.DecideAsync(cache, store, RequestSignals.None);
        Assert.True(decided.IsCompletedSuccessfully, "every subject's lease should be held");
        batch.Write(writer);
        writer.Flush();
        batch.Return();
    }

    private static async Task<(Decision[] Decisions, byte[] Json)> DecideAsync(DecisionCache cache, string store, List<BatchItem?> items)
    {
        var batch = BatchDecisions.Rent();
        Assert.Null(batch.Group(items));
        await batch.DecideAsync(cache, store, RequestSignals.None);
        var decisions = batch.Decisions.ToArray();
        var output = new ArrayBufferWriter<byte>();
        await using (var writer = new Utf8JsonWriter(output, new JsonWriterOptions { SkipValidation = true }))
        {
            batch.Write(writer);
        }

        batch.Return();
        return (decisions, output.WrittenSpan.ToArray());
    }

    /// <summary>The same items through the endpoint: every subject's lease is then held here.</summary>
    private async Task WarmAsync(string store, List<BatchItem?> items)
    {
        using var response = await _client.PostAsync($"/v1/stores/{store}/decisions/batch",
            ConsentApi.Json(JsonSerializer.Serialize(new BatchRequest(items, null), EdgeJsonContext.Default.BatchRequest)));
        await response.ShouldBeOkAsync();
    }

    private async Task<(string Store, DecisionCache Cache)> StoreWithSubjectsAsync()
    {
        var store = "batch-" + Guid.NewGuid().ToString("N")[..8];
        await (await _client.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        var cache = await fixture.Factory.RegisteredDecisionCacheAsync();

        await (await _client.SetConsentAsync(store, "granted", "analytics", true)).ShouldBeOkAsync();
        await (await _client.SetConsentAsync(store, "withdrawn", "analytics", false)).ShouldBeOkAsync();
        return (store, cache);
    }
}
