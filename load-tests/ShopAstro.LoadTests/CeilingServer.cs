using System.Text;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.SignalR;

namespace ShopAstro.LoadTests;

/// <summary>
/// The ceilings, run as their own process like the edge API (and with the edge's runtime settings, see
/// <see cref="RuntimeKnobs"/>): bare Kestrel, no auth, no grains, no storage.
/// <list type="bullet">
/// <item>The single check: the edge's route with minimal-API route values, the <c>purpose</c> query values read, and a
/// response of the edge's shape (route values echoed, one decision per purpose) serialized with a source-generated context.</item>
/// <item>The batch: the edge's batch route parsing the same request body with a source-generated context, each item answered
/// from an in-memory <see cref="Dictionary{TKey,TValue}"/> of the run's key space, the edge's batch response shape.</item>
/// <item>The feed: a PUT that pushes a consentChanged message to every client of a bare SignalR hub before it answers.</item>
/// </list>
/// </summary>
public static class CeilingServer
{
    private static readonly byte[] Written = Encoding.UTF8.GetBytes(
        """{"storeId":"s0","subjectId":"u1","status":"active","consents":{"analytics":{"granted":true,"policyVersion":1,"source":"banner"}}}""");

    public static async Task<int> RunAsync(int port, int subjects, int stores)
    {
        var keys = new KeySpace(subjects, stores);
        var records = Preload(keys);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, CeilingJsonContext.Default));
        builder.Services.AddSignalR();
        var app = builder.Build();
        // Both routes answer as the edge does at its best (the single check's fast path, the batch's one-pass
        // serialization): the body serialized in one synchronous pass, the check's with its Content-Length.
        app.MapGet("/v1/stores/{storeId}/subjects/{subjectId}/decisions", (string storeId, string subjectId, HttpContext context) =>
        {
            var requested = context.Request.Query["purpose"];
            var decisions = new CeilingDecision[requested.Count];
            for (var i = 0; i < decisions.Length; i++)
            {
                var purpose = requested[i]!;
                decisions[i] = purpose switch
                {
                    "analytics" => new CeilingDecision(purpose, true, "granted"),
                    "cart" => new CeilingDecision(purpose, true, "contract"),
                    _ => new CeilingDecision(purpose, false, "no_consent"),
                };
            }

            return CeilingResponses.WriteWithLength(context, new CeilingDecisionResponse(storeId, subjectId, 1, decisions), CeilingJsonContext.Default.CeilingDecisionResponse);
        });
        app.MapPost("/v1/stores/{storeId}/decisions/batch", async (string storeId, HttpContext context) =>
        {
            var body = await CeilingResponses.ReadAsync(context.Request, CeilingJsonContext.Default.CeilingBatchRequest);
            var items = body?.Items ?? [];
            var results = new CeilingBatchResult[items.Count];
            for (var i = 0; i < results.Length; i++)
            {
                var item = items[i];
                var allowed = records.TryGetValue(item.SubjectId, out var record) && record.Store == storeId && item.Purpose == "analytics" && record.AnalyticsGranted;
                var reason = allowed ? "granted" : record is not null && item.Purpose == "analytics" ? "withdrawn" : "no_consent";
                results[i] = new CeilingBatchResult(item.SubjectId, item.Purpose, allowed, reason);
            }

            await CeilingResponses.WriteAsync(context, new CeilingBatchResponse(results), CeilingJsonContext.Default.CeilingBatchResponse);
        });
        long sequence = 0;
        app.MapPut("/v1/stores/{storeId}/subjects/{subjectId}/consents", async (string storeId, string subjectId, HttpContext context, IHubContext<CeilingHub> hub) =>
        {
            var at = DateTimeOffset.UtcNow;
            await hub.Clients.All.SendAsync("consentChanged", new FeedMessage(storeId, Interlocked.Increment(ref sequence), at, subjectId, "analytics", true));
            context.Response.ContentType = "application/json; charset=utf-8";
            context.Response.ContentLength = Written.Length;
            await context.Response.Body.WriteAsync(Written);
        });
        app.MapGet("/health/ready", () => "ok");
        app.MapHub<CeilingHub>("/hubs/consent");
        await app.RunAsync();
        return 0;
    }

    /// <summary>The run's key space: a small record per subject (3 in 4 of the records hold a grant), keyed by subject id.</summary>
    private static Dictionary<string, SubjectRecord> Preload(KeySpace keys)
    {
        var records = new Dictionary<string, SubjectRecord>(keys.Subjects, StringComparer.Ordinal);
        for (var i = 0; i < keys.Subjects; i++)
        {
            records[KeySpace.SubjectId(i)] = new SubjectRecord(KeySpace.StoreId(keys.StoreOf(i)), i % 4 != 0);
        }

        return records;
    }

    private sealed record SubjectRecord(string Store, bool AnalyticsGranted);

    public sealed record FeedMessage(string StoreId, long Sequence, DateTimeOffset At, string SubjectId, string Purpose, bool Granted);

    public sealed class CeilingHub : Hub
    {
        public object Subscribe(string storeId) => new { storeId, sequence = 0L };
    }
}

/// <summary>The edge's DecisionResponse / DecisionItem (EdgeApi/Http/Contracts.cs), same property names and order.</summary>
public sealed record CeilingDecisionResponse(string StoreId, string SubjectId, int? PolicyVersion, IReadOnlyList<CeilingDecision> Decisions);

public sealed record CeilingDecision(string Purpose, bool Allowed, string Reason);

/// <summary>The edge's BatchRequest / BatchItem / BatchSignals.</summary>
public sealed record CeilingBatchRequest(List<CeilingBatchItem>? Items, CeilingBatchSignals? Signals);

public sealed record CeilingBatchItem(string SubjectId, string Purpose);

public sealed record CeilingBatchSignals(bool Dnt, bool Gpc);

/// <summary>The edge's BatchResponse / BatchResult.</summary>
public sealed record CeilingBatchResponse(IReadOnlyList<CeilingBatchResult> Results);

public sealed record CeilingBatchResult(string SubjectId, string Purpose, bool Allowed, string Reason);

[JsonSourceGenerationOptions(System.Text.Json.JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(CeilingDecisionResponse))]
[JsonSerializable(typeof(CeilingBatchRequest))]
[JsonSerializable(typeof(CeilingBatchResponse))]
public sealed partial class CeilingJsonContext : JsonSerializerContext;
