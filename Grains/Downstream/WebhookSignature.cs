using System.Security.Cryptography;
using System.Text;

namespace ShopAstro.Grains.Downstream;

/// <summary>
/// How a delivery is signed: <c>ShopAstro-Signature: v1=</c> lowercase hex of HMAC-SHA256 under the system's secret
/// over <c>{ShopAstro-Timestamp}.{body}</c> (the timestamp in Unix seconds, the body's exact bytes). A receiver
/// recomputes it, compares in constant time and refuses timestamps too far from its clock (replays).
/// </summary>
public static class WebhookSignature
{
    public const string EventIdHeader = "ShopAstro-Event-Id";
    public const string TimestampHeader = "ShopAstro-Timestamp";
    public const string SignatureHeader = "ShopAstro-Signature";
    public const string Scheme = "v1=";

    public static string Sign(string secret, long timestamp, string body)
    {
        var signed = Encoding.UTF8.GetBytes($"{timestamp}.{body}");
        return Scheme + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), signed));
    }

    /// <summary>What a receiver does (the tests' receivers use it too).</summary>
    public static bool Verify(string secret, string? timestamp, string? signature, string body, DateTimeOffset now, TimeSpan tolerance)
    {
        if (!long.TryParse(timestamp, out var seconds) || signature is null)
        {
            return false;
        }

        if ((now - DateTimeOffset.FromUnixTimeSeconds(seconds)).Duration() > tolerance)
        {
            return false;
        }

        var expected = Encoding.ASCII.GetBytes(Sign(secret, seconds, body));
        return CryptographicOperations.FixedTimeEquals(expected, Encoding.ASCII.GetBytes(signature));
    }
}
