using System.Runtime.InteropServices;
using System.Text.Json;
using Microsoft.Extensions.ObjectPool;
using ShopAstro.EdgeApi.Http;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.EdgeApi.Decisions;

/// <summary>
/// One batch's decisions: one per distinct subject, from this edge's leases, else one grain call each, a bounded number
/// in flight; answered in item order. Its working arrays and subject index are pooled, and go back to the pool once
/// the response is written (<see cref="Respond"/>): a 10,000-item batch needs about 0.7 MB of them, most of it above
/// the large object heap's threshold, which only a full collection reclaims. The response is written from the items
/// and their decisions, without a result object per item.
/// </summary>
public sealed class BatchDecisions : IResettable
{
    /// <summary>Subjects without a lease here, asked of their grains at once: 10,000 first activations sent together would queue past the call timeout.</summary>
    private const int MaxGrainCallsInFlight = 512;

    private static readonly JsonEncodedText ResultsName = JsonEncodedText.Encode("results");

    /// <summary>As many as batches run at once on a busy edge; a batch finding the pool empty makes its own.</summary>
    private static readonly ObjectPool<BatchDecisions> Pool =
        new DefaultObjectPool<BatchDecisions>(new DefaultPooledObjectPolicy<BatchDecisions>(), Environment.ProcessorCount * 2);

    /// <summary>Each subject's items, chained through <see cref="_next"/> (the index of its next item, -1 after the last).</summary>
    private readonly Dictionary<string, (int First, int Last, int Count)> _bySubject = new(StringComparer.Ordinal);

    private IReadOnlyList<BatchItem?> _items = [];
    private int[] _next = [];
    private Purpose[] _asked = [];
    private Decision[] _decisions = [];
    private Purpose[] _subjectPurposes = [];
    private Decision[] _subjectDecisions = [];

    /// <summary>From the pool; <see cref="Respond"/> returns it.</summary>
    public static BatchDecisions Rent() => Pool.Get();

    /// <summary>The distinct subjects of the items grouped.</summary>
    internal int Subjects => _bySubject.Count;

    /// <summary>The decisions, in item order, once <see cref="DecideAsync"/> has run.</summary>
    public ReadOnlySpan<Decision> Decisions => _decisions.AsSpan(0, _items.Count);

    /// <summary>Groups <paramref name="items"/> by subject; the problem that answers the request when an item is invalid.</summary>
    public IResult? Group(IReadOnlyList<BatchItem?> items)
    {
        _items = items;
        Reserve(items.Count);
        for (var i = 0; i < items.Count; i++)
        {
            var item = items[i];
            if (item is null || !Ids.IsValid(item.SubjectId))
            {
                return EdgeProblems.BadRequest("invalid_id", $"items[{i}].subjectId must be 1 to 128 characters of A-Z a-z 0-9 . _ : -");
            }

            if (!Purposes.TryParse(item.Purpose, out _asked[i]))
            {
                return EdgeProblems.BadRequest("unknown_purpose", $"items[{i}].purpose '{item.Purpose}' is not a purpose.");
            }

            _next[i] = -1;
            ref var chain = ref CollectionsMarshal.GetValueRefOrAddDefault(_bySubject, item.SubjectId!, out var known);
            if (known)
            {
                _next[chain.Last] = i;
                chain = (chain.First, i, chain.Count + 1);
            }
            else
            {
                chain = (i, i, 1);
            }
        }

        return null;
    }

    /// <summary>Every item's decision: from the leases held here first, then the grains of the subjects they missed.</summary>
    public async Task DecideAsync(DecisionCache cache, string storeId, RequestSignals signals)
    {
        List<(string SubjectId, int First, Purpose[] Purposes)>? missed = null;
        foreach (var (subjectId, chain) in _bySubject)
        {
            var purposes = _subjectPurposes.AsSpan(0, chain.Count);
            for (int k = chain.First, j = 0; k >= 0; k = _next[k], j++)
            {
                purposes[j] = _asked[k];
            }

            var decided = _subjectDecisions.AsSpan(0, chain.Count);
            if (cache.TryDecide(storeId, subjectId, purposes, signals, decided))
            {
                Place(chain.First, decided);
            }
            else
            {
                (missed ??= []).Add((subjectId, chain.First, purposes.ToArray()));
            }
        }

        if (missed is not null)
        {
            await Parallel.ForEachAsync(missed, new ParallelOptions { MaxDegreeOfParallelism = MaxGrainCallsInFlight }, async (miss, _) =>
                Place(miss.First, (await cache.DecideAsync(storeId, miss.SubjectId, miss.Purposes, signals)).Decisions));
        }
    }

    /// <summary>The 200 with every item's result (<see cref="BatchResponse"/>); this goes back to the pool once it is written.</summary>
    public IResult Respond() => new Response(this);

    /// <summary>To the pool without a response (the request was answered with a problem).</summary>
    public void Return() => Pool.Return(this);

    /// <summary>Called by the pool: drops the references to the request, keeps the arrays and the index's capacity.</summary>
    public bool TryReset()
    {
        _bySubject.Clear();
        _items = [];
        return true;
    }

    /// <summary>A subject's decisions go to its items in the order they were chained.</summary>
    private void Place(int first, ReadOnlySpan<Decision> decided)
    {
        for (int k = first, j = 0; k >= 0; k = _next[k], j++)
        {
            _decisions[k] = decided[j];
        }
    }

    private void Reserve(int count)
    {
        if (_next.Length < count)
        {
            (_next, _asked, _decisions) = (new int[count], new Purpose[count], new Decision[count]);
            (_subjectPurposes, _subjectDecisions) = (new Purpose[count], new Decision[count]);
        }

        _bySubject.EnsureCapacity(count);
    }

    /// <summary><see cref="BatchResponse"/> of the items and their decisions, as the serializer writes it.</summary>
    internal void Write(Utf8JsonWriter writer)
    {
        var decisions = Decisions;
        writer.WriteStartObject();
        writer.WriteStartArray(ResultsName);
        for (var i = 0; i < decisions.Length; i++)
        {
            writer.WriteStartObject();
            writer.WriteString(DecisionJson.SubjectIdName, _items[i]!.SubjectId);
            DecisionJson.WriteFields(writer, decisions[i]);
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
    }

    /// <summary>
    /// The response written field by field (<see cref="Write"/>) in one synchronous pass into the response pipe, then
    /// flushed once: no result object per item.
    /// </summary>
    private sealed class Response(BatchDecisions batch) : IResult
    {
        public async Task ExecuteAsync(HttpContext context)
        {
            var response = context.Response;
            response.StatusCode = StatusCodes.Status200OK;
            response.ContentType = "application/json; charset=utf-8";
            try
            {
                using var writer = new Utf8JsonWriter(response.BodyWriter, new JsonWriterOptions { SkipValidation = true });
                batch.Write(writer);
            }
            finally
            {
                batch.Return();
            }

            await response.BodyWriter.FlushAsync(context.RequestAborted);
        }
    }
}
