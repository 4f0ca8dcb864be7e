// Helpers shared by the boundary tests: what the environment must provide (photos, models, the server
// binary), temp directories, controllable platform seams (clock, signer) with hooks to synchronise
// with the core's worker threads, camera frames, and a real siap-server on loopback.
package id.go.siap.core

import java.io.File
import java.io.FileInputStream
import java.io.FileOutputStream
import java.math.BigInteger
import java.net.HttpURLConnection
import java.net.ServerSocket
import java.net.URI
import java.nio.file.Files
import java.security.KeyPairGenerator
import java.security.Signature
import java.security.interfaces.ECPublicKey
import java.security.spec.ECGenParameterSpec
import java.time.Duration
import java.time.Instant
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicLong
import javax.imageio.ImageIO
import kotlin.concurrent.thread
import kotlin.test.assertEquals
import kotlin.test.assertTrue
import kotlin.test.fail
import org.junit.jupiter.api.Assumptions.assumeTrue

/** How long a test waits for the core to reach a hook before it fails (a hang, not a slow machine). */
val HOOK_TIMEOUT: Duration = Duration.ofSeconds(60)

object Env {
    /** `CI` set and not empty, as on the Rust side: then nothing may be skipped. */
    val ci: Boolean = !System.getenv("CI").isNullOrEmpty()

    /**
     * A test that needs [what] skips with a message when it is missing on a developer machine, and
     * fails under CI: a CI run must not pass by skipping.
     */
    fun require(ok: Boolean, what: String) {
        if (ok) return
        if (ci) fail("$what; CI is set, so this test must not pass by skipping")
        assumeTrue(false, "SKIPPED: $what")
    }
}

object Support {
    /** The labelled photos (../shared/faces); skips locally, fails under CI when missing. */
    fun faces(): File {
        val dir = System.getProperty("siap.faces.dir")?.let(::File)
        Env.require(
            dir != null && File(dir, "obama/1.jpg").isFile,
            "labelled face photos not found at $dir (set -Dsiap.faces.dir to ../shared/faces)",
        )
        return dir!!
    }

    /** The face models directory (models/); skips locally, fails under CI when missing. */
    fun models(): String {
        val dir = File(System.getProperty("siap.models.dir") ?: "../../models")
        Env.require(
            File(dir, "mobilefacenet.onnx").isFile,
            "face models not found at $dir (set -Dsiap.models.dir)",
        )
        return dir.canonicalPath
    }

    fun photoFile(rel: String): File = File(faces(), rel)

    fun photoBytes(rel: String): ByteArray = photoFile(rel).readBytes()

    fun photo(rel: String): CameraImage = CameraImage.Encoded(photoBytes(rel))

    fun selfie(rel: String): FaceInput = FaceInput.Selfie(photo(rel))

    private val tempDirs = java.util.concurrent.ConcurrentLinkedQueue<File>().also { dirs ->
        Runtime.getRuntime().addShutdownHook(Thread { dirs.forEach { it.deleteRecursively() } })
    }

    /** A fresh directory, deleted with its contents when the test JVM exits. */
    fun tempDir(prefix: String = "siap-kt"): File = Files.createTempDirectory(prefix).toFile().also { tempDirs += it }

    /**
     * A fresh device: no server; face models only when [models] (then the photos are needed too).
     * Enrollment without a liveness session: the test photos are stills (the refusal of a photo held
     * up at enrollment is tested in Rust, `core/tests/device_faces.rs`; the default is checked below).
     */
    fun config(models: Boolean = false): CoreConfig = CoreConfig(
        dataDir = tempDir().path,
        modelsDir = if (models) models() else null,
        serverUrl = null,
        serverPublicKey = null,
        masterKey = ByteArray(32) { it.toByte() },
        requireEnrollmentLiveness = false,
    )

    /** The smallest inspection photo the core accepts: a JPEG header (photos are typed by their bytes). */
    val jpegStub = Photo.Bytes(byteArrayOf(0xFF.toByte(), 0xD8.toByte(), 0xFF.toByte(), 0xE0.toByte(), 0, 1))

    /** A port nothing listens on (bound, then released). */
    fun closedPort(): Int = ServerSocket(0).use { it.localPort }
}

/**
 * A one-shot rendezvous between a platform callback, called by the core on one of its worker threads,
 * and the test: the callback [pass]es (announcing that the core got there) and waits until the test
 * [release]s it. Lets a test act (cancel, inspect state) at a known point of the core's work.
 */
class Gate {
    private val entered = CountDownLatch(1)
    private val released = CountDownLatch(1)

    /** Called from the callback: announces arrival, then blocks until released. */
    fun pass() {
        entered.countDown()
        check(released.await(HOOK_TIMEOUT.seconds, TimeUnit.SECONDS)) { "the test never released the gate" }
    }

    /** Blocks the test until the core is inside the callback. */
    fun awaitEntered() {
        assertTrue(entered.await(HOOK_TIMEOUT.seconds, TimeUnit.SECONDS), "the core never reached the gate")
    }

    fun release() = released.countDown()
}

/**
 * The platform clocks, as Android's `SystemClock.elapsedRealtime()` (with a boot id) and
 * `System.currentTimeMillis()`, that a test can move forward (both clocks, as time passing would) or
 * skew (the wall clock alone, as a user setting the phone's clock would), make fail, or hold at a gate.
 */
class TestClock : PlatformClock {
    val bootId = "jvm-" + ProcessHandle.current().pid()
    private val monotonicShift = AtomicLong(0)
    private val wallShift = AtomicLong(0)
    val reads = AtomicInteger()

    /** When set, `now()` throws it (a `SiapException`, any other exception, even an `Error`). */
    @Volatile var failure: Throwable? = null

    /** When set, the next `now()` stops at it (then it is cleared). */
    @Volatile var gate: Gate? = null

    /** Time passes: both clocks move forward. */
    fun advance(d: Duration) {
        monotonicShift.addAndGet(d.toMillis())
        wallShift.addAndGet(d.toMillis())
    }

    /** The user sets the phone's wall clock; the monotonic clock does not move. */
    fun skewWall(d: Duration) {
        wallShift.addAndGet(d.toMillis())
    }

    fun monotonicMs(): Long = System.nanoTime() / 1_000_000 + monotonicShift.get()

    fun wall(): Instant = Instant.now().plusMillis(wallShift.get())

    override fun now(): ClockReading {
        reads.incrementAndGet()
        gate?.let {
            gate = null
            it.pass()
        }
        failure?.let { throw it }
        return ClockReading(monotonicMs(), bootId, wall())
    }

    /** A fix taken [ageMs] ago by this phone's clock (GNSS time would be the same). */
    fun fix(
        lat: Double,
        lon: Double,
        accuracyM: Double? = 8.0,
        ageMs: Long = 500,
        mock: Boolean = false,
    ) = LocationFix(lat, lon, accuracyM, wall().minusMillis(ageMs), "fused", mock)
}

/**
 * A P-256 signer in the JVM's own crypto, standing in for Android Keystore / the Secure Enclave. A test
 * can make `sign` fail with any exception or stop at a [Gate].
 */
class JvmSigner : PlatformSigner {
    private val pair = KeyPairGenerator.getInstance("EC").apply { initialize(ECGenParameterSpec("secp256r1")) }.generateKeyPair()

    /** Successful signatures. */
    val calls = AtomicInteger()

    /** When set, `sign` throws it. */
    @Volatile var failure: Throwable? = null

    /** When set, the next `sign` stops at it (then it is cleared). */
    @Volatile var gate: Gate? = null

    override fun publicKey(): ByteArray {
        val w = (pair.public as ECPublicKey).w
        fun fixed(v: BigInteger): ByteArray = v.toByteArray().let { b ->
            when {
                b.size == 32 -> b
                b.size > 32 -> b.copyOfRange(b.size - 32, b.size)
                else -> ByteArray(32 - b.size) + b
            }
        }
        return byteArrayOf(4) + fixed(w.affineX) + fixed(w.affineY)
    }

    override fun sign(message: ByteArray): ByteArray {
        gate?.let {
            gate = null
            it.pass()
        }
        failure?.let { throw it }
        val sig = Signature.getInstance("SHA256withECDSA").run {
            initSign(pair.private)
            update(message)
            sign()
        }
        calls.incrementAndGet()
        return sig
    }
}

/**
 * A photo the "camera" writes through a named pipe: the core's read of `CameraImage.File(path)` blocks
 * until the test [open]s the writing end, so the test knows the core has started on this photo.
 */
class FifoPhoto(private val bytes: ByteArray) {
    val file: File = File(Support.tempDir("siap-fifo"), "photo.jpg")

    init {
        val p = ProcessBuilder("mkfifo", file.path).inheritIO().start()
        assertEquals(0, p.waitFor(), "mkfifo failed")
    }

    val image: CameraImage get() = CameraImage.File(file.path)

    private var out: FileOutputStream? = null

    /** Blocks until the core opens the pipe for reading (it has started reading this photo). */
    fun open() {
        var opened: FileOutputStream? = null
        val t = thread { opened = FileOutputStream(file) }
        t.join(HOOK_TIMEOUT.toMillis())
        if (t.isAlive) {
            FileInputStream(file).close() // unblocks the writer thread
            t.join()
            fail("the core never opened the photo")
        }
        out = opened
    }

    /** Writes the photo and closes the pipe (the core then reads to the end). */
    fun deliver() {
        out!!.use { it.write(bytes) }
    }
}

/** Camera frames built from decoded photos, in each of the core's pixel formats. */
object Frames {
    /** Packed 0xRRGGBB pixels of a JPEG or PNG, row by row. */
    class Pixels(val width: Int, val height: Int, val rgb: IntArray) {
        /** The same pixels turned 90° counter-clockwise: a clockwise turn of 90° makes them upright. */
        fun turnedCounterClockwise(): Pixels {
            val out = IntArray(rgb.size)
            // Output is height x width; output (x, y) comes from source (width - 1 - y, x).
            for (y in 0 until width) for (x in 0 until height) out[y * height + x] = rgb[x * width + (width - 1 - y)]
            return Pixels(height, width, out)
        }
    }

    fun decode(bytes: ByteArray): Pixels {
        val img = ImageIO.read(bytes.inputStream()) ?: error("not an image")
        return Pixels(img.width, img.height, img.getRGB(0, 0, img.width, img.height, null, 0, img.width))
    }

    fun raw(p: Pixels, format: PixelFormat, rotationDegrees: UInt = 0u): CameraImage.Raw {
        val data = when (format) {
            PixelFormat.RGBA8 -> packed(p, bgr = false)
            PixelFormat.BGRA8 -> packed(p, bgr = true)
            PixelFormat.NV21, PixelFormat.I420 -> yuv(p, nv21 = format == PixelFormat.NV21)
        }
        return CameraImage.Raw(format, p.width.toUInt(), p.height.toUInt(), rotationDegrees, data)
    }

    /** A flat grey frame (no face in it) in [format]. */
    fun grey(format: PixelFormat, width: Int = 320, height: Int = 240): CameraImage.Raw =
        raw(Pixels(width, height, IntArray(width * height) { 0x808080 }), format)

    private fun packed(p: Pixels, bgr: Boolean): ByteArray {
        val out = ByteArray(p.rgb.size * 4)
        for ((i, c) in p.rgb.withIndex()) {
            val r = (c shr 16) and 0xFF
            val b = c and 0xFF
            out[4 * i] = (if (bgr) b else r).toByte()
            out[4 * i + 1] = ((c shr 8) and 0xFF).toByte()
            out[4 * i + 2] = (if (bgr) r else b).toByte()
            out[4 * i + 3] = 0xFF.toByte()
        }
        return out
    }

    /** BT.601 full range, chroma subsampled 2x2 (as cameras deliver it). */
    private fun yuv(p: Pixels, nv21: Boolean): ByteArray {
        val (w, h) = p.width to p.height
        val (cw, ch) = (w + 1) / 2 to (h + 1) / 2
        val out = ByteArray(w * h + 2 * cw * ch)
        fun clamp(v: Double) = v.toInt().coerceIn(0, 255).toByte()
        for (y in 0 until h) for (x in 0 until w) {
            val c = p.rgb[y * w + x]
            val (r, g, b) = Triple((c shr 16) and 0xFF, (c shr 8) and 0xFF, c and 0xFF)
            out[y * w + x] = clamp(0.299 * r + 0.587 * g + 0.114 * b + 0.5)
        }
        for (cy in 0 until ch) for (cx in 0 until cw) {
            val c = p.rgb[minOf(2 * cy, h - 1) * w + minOf(2 * cx, w - 1)]
            val (r, g, b) = Triple((c shr 16) and 0xFF, (c shr 8) and 0xFF, c and 0xFF)
            val u = clamp(-0.168736 * r - 0.331264 * g + 0.5 * b + 128.5)
            val v = clamp(0.5 * r - 0.418688 * g - 0.081312 * b + 128.5)
            val i = cy * cw + cx
            if (nv21) {
                out[w * h + 2 * i] = v
                out[w * h + 2 * i + 1] = u
            } else {
                out[w * h + i] = u
                out[w * h + cw * ch + i] = v
            }
        }
        return out
    }
}

/**
 * A real siap-server on a free loopback port, with its own data directory and administrator token.
 * The server prints `listening <addr> public_key <hex>` once it accepts connections.
 */
class TestServer private constructor(private val process: Process, val url: String, val publicKey: ByteArray) : AutoCloseable {
    companion object {
        private const val TOKEN = "kotlin-test-admin-token"

        /** Skips locally, fails under CI, when the server binary is missing. */
        fun start(): TestServer {
            val bin = System.getProperty("siap.server.bin")
            Env.require(bin != null && File(bin).canExecute(), "siap-server binary not found at $bin (build it; -Dsiap.server.bin)")
            val dir = Support.tempDir("siap-server")
            // The tests enroll from still photos (no camera to answer a challenge): the city's rule that an
            // enrollment needs a passed liveness answer is switched off for this server only.
            val pb = ProcessBuilder(
                bin, "--data-dir", dir.path, "--listen", "127.0.0.1:0", "--allow-enrollment-without-liveness",
            )
                .redirectError(ProcessBuilder.Redirect.INHERIT)
            // The token through the environment (`--admin-token` would show it in the process list).
            pb.environment()["SIAP_ADMIN_TOKEN"] = TOKEN
            // Warnings only: one JSON line per request would bury the test output.
            pb.environment()["SIAP_LOG"] = "warn"
            val p = pb.start()
            val out = p.inputStream.bufferedReader()
            val line = out.readLine() ?: error("siap-server exited before listening")
            thread(isDaemon = true) { out.forEachLine { } } // keep draining: a full pipe would stall it
            val parts = line.split(" ")
            assertEquals("listening", parts[0], line)
            val key = parts[3].chunked(2).map { it.toInt(16).toByte() }.toByteArray()
            return TestServer(p, "http://" + parts[1], key)
        }

        /** The `"code"` of an enrollment answer. */
        private fun code(json: String) = Regex("\"code\"\\s*:\\s*\"([^\"]+)\"").find(json)!!.groupValues[1]
    }

    /** A device configured for this server; face models when [models]. */
    fun config(models: Boolean = false, requireLiveness: Boolean = true): CoreConfig =
        Support.config(models).copy(serverUrl = url, serverPublicKey = publicKey, requireLiveness = requireLiveness)

    fun admin(method: String, path: String, body: String): String {
        val c = URI(url + path).toURL().openConnection() as HttpURLConnection
        c.requestMethod = method
        c.setRequestProperty("Authorization", "Bearer $TOKEN")
        if (method != "GET") {
            c.doOutput = true
            c.setRequestProperty("Content-Type", "application/json")
            c.outputStream.use { it.write(body.toByteArray()) }
        }
        val status = c.responseCode
        val text = (if (status < 400) c.inputStream else c.errorStream).bufferedReader().readText()
        assertTrue(status in 200..299, "$method $path -> $status $text")
        return text
    }

    /** Balai Kota: a 150 m circle around [OFFICE_LAT], [OFFICE_LON]. */
    fun office() = admin(
        "PUT", "/v1/admin/sites/office",
        """{"name":"Balai Kota","fence":{"type":"circle","center":{"lat":$OFFICE_LAT,"lon":$OFFICE_LON},"radius_m":150.0}}""",
    )

    fun employee(id: String, sites: List<String> = listOf("office")) =
        admin("PUT", "/v1/admin/employees/$id", """{"name":"Test","site_ids":[${sites.joinToString(",") { "\"$it\"" }}]}""")

    /** A bridge, 50 m around the office's centre. */
    fun asset(id: String) = admin(
        "PUT", "/v1/admin/assets/$id",
        """{"name":"Jembatan","category":"bridge","lat":$OFFICE_LAT,"lon":$OFFICE_LON,"radius_m":50.0}""",
    )

    fun permit(id: String, deadline: Instant, fee: Long = 1_250_000) = admin(
        "PUT", "/v1/admin/permits/$id",
        """{"permit_type":"PBG","status":"submitted","official_fee_idr":$fee,"deadline_ms":${deadline.toEpochMilli()},"office":"DPMPTSP"}""",
    )

    fun permitStatus(id: String, status: String) = admin("PUT", "/v1/admin/permits/$id", """{"status":"$status"}""")

    /** HR approves [employee]'s face [template] for the device that enrolled it (a signed decision in the feed). */
    fun approveFace(employee: String, template: String) =
        admin("POST", "/v1/admin/faces/$employee/$template/decision", """{"decision":"approved","approver":"hr-kotlin"}""")

    /** A one-time enrollment code binding a device to [type] (`employee`, `permit`) [id]. */
    fun enrollmentCode(type: String, id: String): String =
        code(admin("POST", "/v1/admin/enrollments", """{"binding":{"type":"$type","id":"$id"}}"""))

    override fun close() {
        process.destroy()
        process.waitFor(10, TimeUnit.SECONDS)
    }
}

/**
 * One server for a test class, started by the first test that asks for it (so that a missing server
 * binary skips, or under CI fails, each test with the message), stopped by the class's `@AfterAll`.
 */
class SharedServer(private val setup: TestServer.() -> Unit = {}) : AutoCloseable {
    private var server: TestServer? = null

    @Synchronized
    fun get(): TestServer = server ?: TestServer.start().also {
        server = it
        it.setup()
    }

    @Synchronized
    override fun close() {
        server?.close()
        server = null
    }
}

const val OFFICE_LAT = -10.1635
const val OFFICE_LON = 123.5895
