using System.Collections.Immutable;
using Orleans.Runtime;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Grains;

[GenerateSerializer, Immutable, Alias("shopastro.ReceiptArchive")]
public sealed record ReceiptArchive
{
    [Id(0)] public ImmutableList<ConsentReceipt> Receipts { get; init; } = [];
}

/// <summary>Anonymised proof of consent of erased subjects (§4(2), §5(1)).</summary>
internal sealed class ReceiptArchiveGrain(
    [PersistentState("receiptarchive", StorageNames.Consent)] IPersistentState<ReceiptArchive> state) : Grain, IReceiptArchiveGrain
{
    public async Task Archive(ConsentReceipt[] receipts)
    {
        var known = state.State.Receipts.Select(r => r.ReceiptId).ToHashSet(StringComparer.Ordinal);
        var added = receipts.Where(r => known.Add(r.ReceiptId)).ToList();
        if (added.Count == 0)
        {
            return;
        }

        await state.PersistAsync(state.State with { Receipts = state.State.Receipts.AddRange(added) }, this, "receipt archive");
    }

    public Task<ConsentReceipt[]> GetReceipts() => Task.FromResult(state.State.Receipts.ToArray());
}
