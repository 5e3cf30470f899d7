using System.Security.Cryptography;
using System.Text;

namespace ShopAstro.Grains.Interfaces;

/// <summary>
/// The hash chain over a subject's receipts. A receipt's hash is the lower-case hex SHA-256 of the UTF-8
/// text <c>previousHash|receiptId|purpose|granted|policyVersion|source|dnt|gpc|atUnixMilliseconds|linked</c> for a
/// consent receipt and <c>previousHash|receiptId|event|atUnixMilliseconds|linked</c> for a status receipt
/// (booleans as 1/0, ids as in the API). <c>linked</c> is empty without linkedFrom, else the lower-case hex
/// SHA-256 of <c>linkedFromNonce|linkedFrom</c> (receipts sealed before nonces existed: linkedFrom itself). The
/// first receipt's previousHash is <see cref="Genesis"/>. Everything needed to recompute it is in the access
/// export; an archived receipt keeps that digest instead of the visitor's id (<see cref="Anonymise"/>).
/// </summary>
public static class ReceiptChain
{
    public static readonly string Genesis = new('0', 64);

    public static string Head(IReadOnlyList<ConsentReceipt> receipts) => receipts.Count == 0 ? Genesis : receipts[^1].Hash;

    public static ConsentReceipt Seal(ConsentReceipt receipt, string previousHash) =>
        receipt with { PreviousHash = previousHash, Hash = HashOf(receipt, previousHash) };

    /// <summary>The index of the first receipt that does not match the chain, or null if every one does.</summary>
    public static int? FirstBroken(IReadOnlyList<ConsentReceipt> receipts)
    {
        var previous = Genesis;
        for (var i = 0; i < receipts.Count; i++)
        {
            var receipt = receipts[i];
            if (receipt.PreviousHash != previous || receipt.Hash != HashOf(receipt, previous))
            {
                return i;
            }

            previous = receipt.Hash;
        }

        return null;
    }

    public static string HashOf(ConsentReceipt receipt, string previousHash)
    {
        var at = receipt.At.ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var text = receipt.Event == ReceiptEvent.Consent
            ? string.Join('|',
                previousHash,
                receipt.ReceiptId,
                receipt.Purpose.ToId(),
                receipt.Granted ? "1" : "0",
                receipt.PolicyVersion.ToString(System.Globalization.CultureInfo.InvariantCulture),
                receipt.Source.ToId(),
                receipt.Dnt ? "1" : "0",
                receipt.Gpc ? "1" : "0",
                at,
                Linked(receipt))
            : string.Join('|', previousHash, receipt.ReceiptId, receipt.Event.ToId(), at, Linked(receipt));
        return Sha256(text);
    }

    /// <summary>
    /// The receipt as the anonymised archive keeps it: the visitor's id and nonce replaced by their digest, so the
    /// hash still verifies. A receipt sealed before nonces existed hashed the id itself: it loses the id all the
    /// same, and the chain then shows it as broken there (its links to its neighbours still verify).
    /// </summary>
    public static ConsentReceipt Anonymise(ConsentReceipt receipt) => receipt.LinkedFrom is null
        ? receipt
        : receipt with
        {
            LinkedFrom = null,
            LinkedFromNonce = null,
            LinkedFromDigest = receipt.LinkedFromNonce is null ? null : Linked(receipt),
        };

    private static string Linked(ConsentReceipt receipt) => receipt switch
    {
        { LinkedFromDigest: { } digest } => digest,
        { LinkedFrom: null } => "",
        { LinkedFromNonce: null, LinkedFrom: { } legacy } => legacy,
        { LinkedFromNonce: { } nonce, LinkedFrom: { } linkedFrom } => Sha256(nonce + "|" + linkedFrom),
    };

    private static string Sha256(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
}
