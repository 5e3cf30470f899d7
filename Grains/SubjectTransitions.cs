using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Grains;

/// <summary>
/// How a subject record changes: pure functions from the record before to the record after, with the receipts
/// that say why. The grain decides when and stores the result; policy-rules.md ("Subject rights and lifecycle")
/// decides what.
/// </summary>
internal static class SubjectTransitions
{
    /// <summary>Records choices, one receipt per purpose; a shopper whose data was erased may consent again.</summary>
    public static SubjectRecord WithChoices(
        SubjectRecord current, IEnumerable<(Purpose Purpose, ConsentChoice Choice)> choices, DateTimeOffset at, string? linkedFrom = null)
    {
        var consents = current.Consents.ToBuilder();
        var receipts = current.Receipts.ToBuilder();
        var head = ReceiptChain.Head(current.Receipts);
        foreach (var (purpose, choice) in choices)
        {
            consents[purpose] = choice;
            var receipt = ReceiptChain.Seal(
                new ConsentReceipt(Guid.CreateVersion7(at).ToString("N"), purpose, choice.Granted, choice.PolicyVersion, choice.Source,
                    choice.Dnt, choice.Gpc, at).LinkedTo(linkedFrom),
                head);
            receipts.Add(receipt);
            head = receipt.Hash;
        }

        return current with
        {
            Status = SubjectStatus.Active,
            Consents = consents.ToImmutable(),
            Receipts = receipts.ToImmutable(),
            LastWrittenAt = at,
        };
    }

    /// <summary>
    /// What is left after the data went (to the anonymised archive): the status, and a chain that starts afresh with
    /// the receipt of why.
    /// </summary>
    public static SubjectRecord Tombstone(SubjectStatus status, DateTimeOffset at, string? linkedFrom = null) => new()
    {
        Status = status,
        Receipts = [ReceiptChain.Seal(ConsentReceipt.ForStatus(EventOf(status), at, linkedFrom), ReceiptChain.Genesis)],
        LastWrittenAt = at,
    };

    /// <summary>Known now to be of age: an active record, and the data deleted while a minor stays deleted.</summary>
    public static SubjectRecord MinorLifted(SubjectRecord minor, DateTimeOffset at) =>
        Append(minor, ConsentReceipt.ForStatus(ReceiptEvent.MinorLifted, at)) with { Status = SubjectStatus.Active, LastWrittenAt = at };

    /// <summary>
    /// An active visitor's choices carried into the account where it has none of its own, after a receipt of the link.
    /// </summary>
    public static SubjectRecord Linked(SubjectRecord account, SubjectRecord visitor, string anonymousSubjectId, DateTimeOffset at)
    {
        var carried = visitor.Consents.Where(c => !account.Consents.ContainsKey(c.Key)).OrderBy(c => c.Key).Select(c => (c.Key, c.Value));
        var linked = Append(account, ConsentReceipt.ForStatus(ReceiptEvent.Linked, at, anonymousSubjectId)) with { LastWrittenAt = at };
        return WithChoices(linked, carried, at, anonymousSubjectId);
    }

    /// <summary>The record without any raw id of a visitor linked into it (what an erasure leaves of a tombstone).</summary>
    public static SubjectRecord WithoutLinkedIds(SubjectRecord record) =>
        record with { Receipts = record.Receipts.ConvertAll(ReceiptChain.Anonymise) };

    public static bool NamesLinkedIds(SubjectRecord record) => record.Receipts.Any(r => r.LinkedFrom is not null);

    private static SubjectRecord Append(SubjectRecord record, ConsentReceipt receipt) =>
        record with { Receipts = record.Receipts.Add(ReceiptChain.Seal(receipt, ReceiptChain.Head(record.Receipts))) };

    private static ReceiptEvent EventOf(SubjectStatus status) => status switch
    {
        SubjectStatus.Minor => ReceiptEvent.MinorSet,
        SubjectStatus.Cancelled => ReceiptEvent.Cancelled,
        SubjectStatus.Erased => ReceiptEvent.Erased,
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, "Only minor, cancelled and erased records are tombstones."),
    };
}
