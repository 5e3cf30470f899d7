using System.Collections.Immutable;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Tests.Unit;

/// <summary>
/// Receipts hold their id and hashes as bytes in memory (<see cref="HexText{TBytes}"/>); what is stored
/// and handed out must not change with it. The golden payload below was written by the Orleans serializer with the
/// receipt type as it was before (three string properties): it must read back to the same texts, and a record written
/// now must be the same bytes.
/// </summary>
public sealed class ReceiptStorageFormatTests
{
    /// <summary>
    /// <see cref="Sample"/> serialized by the build before the change (ShopAstro.Grains.Interfaces at bb24d2a): each
    /// previous hash the same string as the hash before it, as the grain held them, written as references to it.
    /// </summary>
    private const string GoldenBase64 =
        "IOgABSEgAQMBCSDoAAMBCSGAAAC2bPe83giBAAAAAAAAAADgAQEBAQED4ODBAeAhIAALIehAQTAxOTBmN2ExYjJjMzRkNWU4ZjkwYTFiMmMzZDRlNWY2AQkBAwEFAQEBAQEDIYAAALZs97zeCIEAAAAAAAAAAODBAUGBMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMEGBMDVkOGQ2NDc1YTQxYTkyYzA5NmQwZGJiMjZlZDQyMGE0ZDRmNzg1MmY5ZTczNTk2YjVkNTU0Yzg0YjA5YTI4YgEBwQHBAeAg6EBBMDE5MEY3QTFCMkMzNEQ1RThGOTBBMUIyQzNENEU1RjcBDQEBAQkBCQEDAQEhgICWTm33vN4IgQAAAAAAAAAA4EEPYW5vbjp2McFDQYE2MTY4NzkxMDkyNGIzMGI5OWEwM2JmMzhkNGZhOGZhZTBhZDhjZDdlNGRkMjNjOTM0ZGVhMjU4MzU1YTcxMjI3AQFBQTAwMTEyMjMzNDQ1NTY2Nzc4ODk5YWFiYmNjZGRlZWZmwQHgIOhAQTAxOTBmN2ExYjJjMzRkNWU4ZjkwYTFiMmMzZDRlNWY4AQkBAwEJAQUBAQEBIYAALedt97zeCIEAAAAAAAAAAODBAcFlQSVlZGl0ZWQsIG5vdCBhIGhhc2gBAcEBwQHgIOhAFXItbGVnYWN5LTcBAQEBAQEBAQEBAQEhgIDDf273vN4IgQAAAAAAAAAA4MEBQQHBpwEFwQHBAeAg6EBBMDE5MGY3YTFiMmMzNGQ1ZThmOTBhMWIyYzNkNGU1ZjkBAQEBAQEBAQEBAQEhgIDDf273vN4IgQAAAAAAAAAA4MEBQYFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBwQEBBcEBwQHg4OAhgIDDf273vN4IgQAAAAAAAAAA4OA=";

    /// <summary>The same, with every previous hash a copy: no string written as a reference.</summary>
    private const string GoldenUnsharedBase64 =
        "IOgABSEgAQMBCSDoAAMBCSGAAAC2bPe83giBAAAAAAAAAADgAQEBAQED4ODBAeAhIAALIehAQTAxOTBmN2ExYjJjMzRkNWU4ZjkwYTFiMmMzZDRlNWY2AQkBAwEFAQEBAQEDIYAAALZs97zeCIEAAAAAAAAAAODBAUGBMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMEGBMDVkOGQ2NDc1YTQxYTkyYzA5NmQwZGJiMjZlZDQyMGE0ZDRmNzg1MmY5ZTczNTk2YjVkNTU0Yzg0YjA5YTI4YgEBwQHBAeAg6EBBMDE5MEY3QTFCMkMzNEQ1RThGOTBBMUIyQzNENEU1RjcBDQEBAQkBCQEDAQEhgICWTm33vN4IgQAAAAAAAAAA4EEPYW5vbjp2MUGBMDVkOGQ2NDc1YTQxYTkyYzA5NmQwZGJiMjZlZDQyMGE0ZDRmNzg1MmY5ZTczNTk2YjVkNTU0Yzg0YjA5YTI4YkGBNjE2ODc5MTA5MjRiMzBiOTlhMDNiZjM4ZDRmYThmYWUwYWQ4Y2Q3ZTRkZDIzYzkzNGRlYTI1ODM1NWE3MTIyNwEBQUEwMDExMjIzMzQ0NTU2Njc3ODg5OWFhYmJjY2RkZWVmZsEB4CDoQEEwMTkwZjdhMWIyYzM0ZDVlOGY5MGExYjJjM2Q0ZTVmOAEJAQMBCQEFAQEBASGAAC3nbfe83giBAAAAAAAAAADgwQFBgTYxNjg3OTEwOTI0YjMwYjk5YTAzYmYzOGQ0ZmE4ZmFlMGFkOGNkN2U0ZGQyM2M5MzRkZWEyNTgzNTVhNzEyMjdBJWVkaXRlZCwgbm90IGEgaGFzaAEBwQHBAeAg6EAVci1sZWdhY3ktNwEBAQEBAQEBAQEBASGAgMN/bve83giBAAAAAAAAAADgwQFBAcGnAQXBAcEB4CDoQEEwMTkwZjdhMWIyYzM0ZDVlOGY5MGExYjJjM2Q0ZTVmOQEBAQEBAQEBAQEBASGAgMN/bve83giBAAAAAAAAAADgwQFBgUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUHBAQEFwQHBAeDg4CGAgMN/bve83giBAAAAAAAAAADg4A==";

    private static readonly DateTimeOffset At = DateTimeOffset.FromUnixTimeMilliseconds(1_780_000_000_000);

    /// <summary>
    /// Receipts of every form the texts take: made here (lower-case hex), an upper-case id, a linked receipt, an
    /// edited hash that is no hex at all, empty hashes and an id that is not hex, a missing (null) hash.
    /// </summary>
    /// <param name="shared">
    /// Whether a receipt's previous hash is the same string instance as the hash before it (as in the grain's memory
    /// before, which Orleans then writes as a reference to the earlier string), or a copy of it.
    /// </param>
    private static SubjectRecord Sample(bool shared = true)
    {
        string Link(string hash) => shared ? hash : new string(hash.AsSpan());
        var first = ReceiptChain.Seal(
            new ConsentReceipt("0190f7a1b2c34d5e8f90a1b2c3d4e5f6", Purpose.Analytics, true, 1, ConsentSource.Banner, false, true, At),
            Link(ReceiptChain.Genesis));
        var second = ReceiptChain.Seal(
            new ConsentReceipt("0190F7A1B2C34D5E8F90A1B2C3D4E5F7", Purpose.Recommendation, false, 2, ConsentSource.Api, true, false, At.AddSeconds(1),
                LinkedFrom: "anon:v1", LinkedFromNonce: "00112233445566778899aabbccddeeff"),
            Link(first.Hash));
        var edited = ReceiptChain.Seal(
            new ConsentReceipt("0190f7a1b2c34d5e8f90a1b2c3d4e5f8", Purpose.Analytics, true, 2, ConsentSource.AccountSettings, false, false, At.AddSeconds(2)),
            Link(second.Hash)) with { Hash = "edited, not a hash" };
        var legacy = new ConsentReceipt("r-legacy-7", default, false, 0, default, false, false, At.AddSeconds(3), Event: ReceiptEvent.MinorSet);
        var missing = legacy with { ReceiptId = "0190f7a1b2c34d5e8f90a1b2c3d4e5f9", PreviousHash = new string('A', 64), Hash = null! };
        return new SubjectRecord
        {
            Status = SubjectStatus.Minor,
            Consents = ImmutableDictionary<Purpose, ConsentChoice>.Empty.Add(Purpose.Analytics, new ConsentChoice(true, 2, At, ConsentSource.Banner, false, true)),
            Receipts = [first, second, edited, legacy, missing],
            LastWrittenAt = At.AddSeconds(3),
        };
    }

    private static Serializer NewSerializer() =>
        new ServiceCollection().AddSerializer(builder => builder.AddAssembly(typeof(SubjectRecord).Assembly))
            .BuildServiceProvider().GetRequiredService<Serializer>();

    [Fact]
    public void A_record_stored_before_reads_back_with_the_same_texts()
    {
        var serializer = NewSerializer();
        var expected = Sample();

        var stored = serializer.Deserialize<SubjectRecord>(Convert.FromBase64String(GoldenBase64))!;

        Assert.Equal(expected.Status, stored.Status);
        Assert.Equal(expected.LastWrittenAt, stored.LastWrittenAt);
        Assert.Equal(expected.Consents.Single(), stored.Consents.Single());
        Assert.Equal(expected.Receipts.Count, stored.Receipts.Count);
        for (var i = 0; i < expected.Receipts.Count; i++)
        {
            Assert.Equal(expected.Receipts[i], stored.Receipts[i]);
            Assert.Equal(expected.Receipts[i].ReceiptId, stored.Receipts[i].ReceiptId);
            Assert.Equal(expected.Receipts[i].PreviousHash, stored.Receipts[i].PreviousHash);
            Assert.Equal(expected.Receipts[i].Hash, stored.Receipts[i].Hash);
        }

        Assert.Equal("0190F7A1B2C34D5E8F90A1B2C3D4E5F7", stored.Receipts[1].ReceiptId);
        Assert.Equal("edited, not a hash", stored.Receipts[2].Hash);
        Assert.Equal(("r-legacy-7", "", ""), (stored.Receipts[3].ReceiptId, stored.Receipts[3].PreviousHash, stored.Receipts[3].Hash));
        Assert.Null(stored.Receipts[4].Hash);
        // The chain sees what it saw before: intact up to the edited receipt.
        Assert.Equal(2, ReceiptChain.FirstBroken(stored.Receipts));
        Assert.Equal(expected.Receipts, serializer.Deserialize<SubjectRecord>(serializer.SerializeToArray(stored))!.Receipts);
    }

    /// <summary>
    /// A record is written byte for byte as before (where the build before wrote no string as a reference to an earlier
    /// one; a reference is an encoding of the same text, which both read), so a build from before reads it too.
    /// </summary>
    [Fact]
    public void A_record_is_written_as_the_same_bytes_as_before()
    {
        var golden = Convert.FromBase64String(GoldenUnsharedBase64);

        Assert.Equal(golden, NewSerializer().SerializeToArray(Sample(shared: false)));
        Assert.Equal(golden, NewSerializer().SerializeToArray(Sample(shared: true)));
    }

    [Theory]
    [InlineData("0190f7a1b2c34d5e8f90a1b2c3d4e5f6")]
    [InlineData("0190F7A1B2C34D5E8F90A1B2C3D4E5F6")]
    [InlineData("0190f7a1b2c34d5e8f90a1b2c3d4e5f")]
    [InlineData("0190f7a1b2c34d5e8f90a1b2c3d4e5f66")]
    [InlineData("0190f7a1b2c34d5e8f90a1b2c3d4e5fg")]
    [InlineData("00000000000000000000000000000000")]
    [InlineData("ffffffffffffffffffffffffffffffff")]
    [InlineData("")]
    [InlineData("#")]
    [InlineData(null)]
    public void Any_receipt_id_reads_back_as_it_was_given(string? text)
    {
        var id = HexText<Bytes16>.From(text);

        Assert.Equal(text, id.Text);
        Assert.Equal(id, HexText<Bytes16>.From(text));
    }

    [Fact]
    public void Any_hash_reads_back_as_it_was_given_and_equal_texts_are_equal_values()
    {
        var random = new Random(20261205);
        var texts = new List<string?> { null, "", "#", ReceiptChain.Genesis, new string('f', 64), new string('A', 64), new string('0', 63), new string('0', 65) };
        for (var i = 0; i < 200; i++)
        {
            var bytes = new byte[random.Next(30, 34)];
            random.NextBytes(bytes);
            texts.Add(i % 3 == 0 ? Convert.ToHexString(bytes) : Convert.ToHexStringLower(bytes));
        }

        foreach (var text in texts)
        {
            Assert.Equal(text, HexText<Bytes32>.From(text).Text);
        }

        foreach (var x in texts)
        {
            foreach (var y in texts)
            {
                Assert.Equal(string.Equals(x, y, StringComparison.Ordinal), HexText<Bytes32>.From(x).Equals(HexText<Bytes32>.From(y)));
            }
        }

        // The marker of a value held as bytes is no text a caller can give: "#" stays "#", and is not the zero digest.
        Assert.NotEqual(HexText<Bytes32>.From(new string('0', 64)), HexText<Bytes32>.From("#"));
        Assert.NotEqual(HexText<Bytes16>.From(new string('0', 32)), HexText<Bytes16>.From("#"));
    }

    [Fact]
    public void A_receipt_made_here_holds_its_id_and_hashes_as_bytes()
    {
        var receipt = ReceiptChain.Seal(
            new ConsentReceipt(Guid.CreateVersion7(At).ToString("N"), Purpose.Analytics, true, 1, ConsentSource.Banner, false, false, At),
            ReceiptChain.Genesis);

        // Each getter makes its text anew from the bytes: no string is kept.
        Assert.NotSame(receipt.ReceiptId, receipt.ReceiptId);
        Assert.NotSame(receipt.Hash, receipt.Hash);
        Assert.NotSame(receipt.PreviousHash, receipt.PreviousHash);
        Assert.Equal(ReceiptChain.Genesis, receipt.PreviousHash);
        Assert.Null(ReceiptChain.FirstBroken([receipt]));
    }
}
