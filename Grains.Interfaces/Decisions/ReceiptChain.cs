using System.Security.Cryptography;
using System.Text;

namespace ShopAstro.Grains.Interfaces;

/// <summary>
/// The hash chain over a subject's receipts. A receipt's hash is the lower-case hex SHA-256 of the UTF-8
/// text <c>previousHash|receiptId|purpose|granted|policyVersion|source|dnt|gpc|atUnixMilliseconds|linkedFrom</c>
/// (booleans as 1/0, ids as in the API, linkedFrom empty when absent); the first receipt's previousHash
/// is <see cref="Genesis"/>. Everything needed to recompute it is in the access export.
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
        var text = string.Join('|',
            previousHash,
            receipt.ReceiptId,
            receipt.Purpose.ToId(),
            receipt.Granted ? "1" : "0",
            receipt.PolicyVersion.ToString(System.Globalization.CultureInfo.InvariantCulture),
            receipt.Source.ToId(),
            receipt.Dnt ? "1" : "0",
            receipt.Gpc ? "1" : "0",
            receipt.At.ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture),
            receipt.LinkedFrom ?? "");
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
    }
}
