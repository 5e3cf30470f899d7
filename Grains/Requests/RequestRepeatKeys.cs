using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Grains.Requests;

/// <summary>
/// Links a request to earlier ones of the same type for the same subject without keeping the subject's id: an
/// HMAC-SHA256 under the anonymisation key, over a label of its own, so that it matches no archive token.
/// </summary>
public sealed class RequestRepeatKeys(IOptions<ConsentClusterOptions> options)
{
    private readonly byte[] _key = Convert.FromBase64String(
        options.Value.AnonymisationKey ?? throw new InvalidOperationException("Consent:AnonymisationKey is not configured."));

    public string For(string storeId, string subjectId, RequestType type) =>
        "rk_" + Convert.ToHexStringLower(HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes($"request-repeat/{storeId}/{subjectId}/{type.ToId()}")))[..40];
}
